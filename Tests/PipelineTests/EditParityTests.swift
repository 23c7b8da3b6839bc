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
        XCTAssertEqual(cases.count, 4)
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        for c in cases where c.name != "outpaint_window" {
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

    /// One outpaint window: the picture grown by 32 px on the right; the window the grid picks first (x = 32) filled.
    func testOutpaintWindowMatchesTheReference() throws {
        let golden = try WeightFile(path: PipelineFixtures.root.appendingPathComponent("tiny-a/inpaint.safetensors").path)
        let cases = try JSONDecoder().decode([Case].self, from: Data(try golden.requireMetadata("cases").utf8))
        let c = try XCTUnwrap(cases.first { $0.name == "outpaint_window" })
        let rgba = try golden.ints("outpaint_window.image").map(UInt8.init)
        let image = try InputImage(width: 64, height: 64, channels: 4, pixels: rgba)
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        let canvas = try pipeline.outpaint(OutpaintRequest(
            image: image, right: 32, prompt: c.prompt, prior: StageOptions(steps: c.prior_steps, guidanceScale: 4),
            decoder: StageOptions(steps: c.decoder_steps, guidanceScale: 8), superRes: StageOptions(steps: c.super_res_steps),
            seed: c.seed)).images[0]
        let window = try golden.ints("outpaint_window.output").map(UInt8.init)           // [64, 64, 3], canvas x 32…95
        var ours = [UInt8](), theirs = [UInt8]()
        for y in 0..<64 {
            for x in 64..<96 {
                let p: Int = (y * 96 + x) * 3, q: Int = (y * 64 + x - 32) * 3
                ours.append(contentsOf: canvas.pixels[p..<(p + 3)])
                theirs.append(contentsOf: window[q..<(q + 3)])
            }
        }
        let d = PixelDeviation(ours, theirs)
        print("edit parity outpaint window: \(d)")
        XCTAssertGreaterThanOrEqual(d.psnr, 40, "\(d)")
    }
}
