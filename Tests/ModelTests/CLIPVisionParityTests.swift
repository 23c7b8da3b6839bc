// CLIPVisionModelWithProjection and CLIP preprocessing against transformers (non-square, non-224 inputs).
import Models
import TensorCore
import WeightIO
import XCTest

final class CLIPVisionParityTests: XCTestCase {
    func testPreprocessingMatchesCLIPImageProcessor() throws {
        let common = try ModelFixtures.common()
        let expected = try common.golden("clip_image.pixel_values")
        for (row, name) in ["clip_image.src0", "clip_image.src1"].enumerated() {
            let info = try XCTUnwrap(common.tensors[name])
            let h = info.shape[0], w = info.shape[1]
            let px = try common.ints(name).map { UInt8($0) }
            let got = CLIPImageProcessor.preprocess(pixels: px, width: w, height: h, channels: 3)
            let ref = expected.slice(outer: row, count: 1)
            // ±1 LSB of the 8-bit resize is 1/255/std ≈ 0.015 in normalised units; count how many values differ.
            var maxd: Float = 0, off = 0
            for i in 0..<got.count { let d = abs(got.data[i] - ref.data[i]); maxd = max(maxd, d); if d > 1e-5 { off += 1 } }
            print("clip preprocess \(name) (\(w)×\(h)): max|Δ| \(maxd), \(off) of \(got.count) values differ")
            XCTAssertLessThanOrEqual(maxd, 1e-5, "\(name): PIL-exact resize expected")
        }
    }

    func testVisionEncoderMatchesTransformers() throws {
        for config in ModelFixtures.configs {
            let model = try CLIPVisionModel(file: try ModelFixtures.model(config))
            let g = try ModelFixtures.golden(config)
            let out = model(pixelValues: try ModelFixtures.common().golden("clip_image.pixel_values"))
            parity(out.imageEmbeds, try g.golden("image_encoder.image_embeds"), relTol: 1e-4, "\(config) image_embeds")
            parity(out.lastHiddenState, try g.golden("image_encoder.last_hidden_state"), relTol: 1e-4, "\(config) vision last_hidden_state")
        }
    }
}
