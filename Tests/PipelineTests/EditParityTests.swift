// Edits against the reference (issue #15): the same algorithm written over diffusers' components of tiny-a
// (scripts/make_inpaint_fixtures.py → Tests/Fixtures/models/tiny-a/inpaint.safetensors): inpainting with the alpha rule,
// a round mask with RePaint resampling on an 80-px picture (both resizes), and image-to-image at strength 0.5.
import Foundation
@testable import Pipeline
import WeightIO
import XCTest

final class EditParityTests: XCTestCase {
    struct Case: Decodable {
        let name: String, prompt: String, seed: UInt64
        let prior_steps: Int, decoder_steps: Int, super_res_steps: Int
        let strength: Float, resamples: Int, jump_length: Int
    }

    func testEditsMatchTheReference() throws {
        let golden = try WeightFile(path: PipelineFixtures.root.appendingPathComponent("tiny-a/inpaint.safetensors").path)
        let cases = try JSONDecoder().decode([Case].self, from: Data(try golden.requireMetadata("cases").utf8))
        XCTAssertEqual(cases.count, 3)
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        for c in cases {
            let rgba = try golden.ints("\(c.name).image").map(UInt8.init), editable = try golden.ints("\(c.name).editable")
            let side = Int(Double(editable.count).squareRoot())
            let image = try InputImage(width: side, height: side, channels: 4, pixels: rgba)
            let mask = EditMask(alphaOf: image)
            XCTAssertEqual(mask.editable, editable.map { $0 != 0 }, "\(c.name): the alpha rule")
            let request = EditRequest(image: image, mask: mask, prompt: c.prompt, strength: c.strength, resamples: c.resamples,
                                      jumpLength: c.jump_length, prior: StageOptions(steps: c.prior_steps, guidanceScale: 4),
                                      decoder: StageOptions(steps: c.decoder_steps, guidanceScale: 8),
                                      superRes: StageOptions(steps: c.super_res_steps), noise: .perImage(seed: c.seed))
            let out = try pipeline.edit(request).images[0].pixels
            let expected = try golden.ints("\(c.name).output").map(UInt8.init)
            let d = PixelDeviation(out, expected)
            print("edit parity \(c.name): \(d)")
            XCTAssertGreaterThanOrEqual(d.psnr, 40, "\(c.name): \(d)")
        }
    }
}
