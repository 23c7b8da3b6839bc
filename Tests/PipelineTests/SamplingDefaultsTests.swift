// The `sampling_defaults` metadata (weights/FORMAT.md) against diffusers' UnCLIPPipeline.__call__ defaults: parsing,
// and a clear error naming the key for every malformed value.
@testable import Pipeline
import XCTest

final class SamplingDefaultsTests: XCTestCase {
    func testAbsentMeansDiffusersDefaults() throws {
        let d = try SamplingDefaults(json: nil)
        XCTAssertEqual([d.priorSteps, d.decoderSteps, d.superResSteps], [25, 25, 7])
        XCTAssertEqual([d.priorGuidance, d.decoderGuidance], [4, 8])
        XCTAssertEqual(d.keysFromFile, [])
        XCTAssertEqual(d, SamplingDefaults())
        XCTAssertEqual(d.decoder.steps, StageOptions.decoderDefault.steps)
        XCTAssertEqual(d.decoder.guidanceScale, StageOptions.decoderDefault.guidanceScale)
        XCTAssertEqual(d.prior.guidanceScale, StageOptions.priorDefault.guidanceScale)
        XCTAssertEqual(d.superRes.steps, StageOptions.superResDefault.steps)
    }

    func testKeysTheFileGivesReplaceOnlyThose() throws {
        let d = try SamplingDefaults(json: #"{"decoder_guidance_scale": 1.5, "super_res_num_inference_steps": 3}"#)
        XCTAssertEqual(d.decoderGuidance, 1.5)
        XCTAssertEqual(d.superResSteps, 3)
        XCTAssertEqual([d.priorSteps, d.decoderSteps], [25, 25])
        XCTAssertEqual(d.priorGuidance, 4)
        XCTAssertEqual(d.keysFromFile, ["decoder_guidance_scale", "super_res_num_inference_steps"])
        XCTAssertEqual(d.decoder.guidanceScale, 1.5)
        let all = try SamplingDefaults(json: #"{"prior_num_inference_steps": 10, "decoder_num_inference_steps": 50.0,"#
            + #" "prior_guidance_scale": 0, "decoder_guidance_scale": 8}"#)
        XCTAssertEqual([all.priorSteps, all.decoderSteps], [10, 50])
        XCTAssertEqual([all.priorGuidance, all.decoderGuidance], [0, 8])
    }

    func testMalformedValuesNameTheKey() {
        let cases: [(String, String)] = [
            (#"{"decoder_guidance": 2}"#, "unknown key 'decoder_guidance'"),
            (#"{"decoder_guidance_scale": -1}"#, "decoder_guidance_scale must be a number ≥ 0, got -1"),
            (#"{"prior_guidance_scale": "4"}"#, "prior_guidance_scale must be a number ≥ 0, got \"4\""),
            (#"{"decoder_guidance_scale": true}"#, "decoder_guidance_scale must be a number ≥ 0, got true"),
            (#"{"prior_num_inference_steps": 2.5}"#, "prior_num_inference_steps must be a whole number 1…1000, got 2.5"),
            (#"{"decoder_num_inference_steps": 0}"#, "decoder_num_inference_steps must be a whole number 1…1000, got 0"),
            (#"{"super_res_num_inference_steps": 1001}"#, "super_res_num_inference_steps must be a whole number 1…1000, got 1001"),
            (#"{"super_res_num_inference_steps": null}"#, "super_res_num_inference_steps must be a whole number 1…1000, got null"),
            (#"[1.5]"#, "sampling_defaults is not a JSON object of numbers"),
            (#"{"decoder_guidance_scale": 1.5"#, "sampling_defaults is not a JSON object of numbers"),
        ]
        for (json, message) in cases {
            XCTAssertThrowsError(try SamplingDefaults(json: json), json) { error in
                guard case PipelineError.invalidWeights(let m)? = error as? PipelineError else {
                    return XCTFail("\(json): not invalidWeights: \(error)")
                }
                XCTAssertTrue(m.contains(message), "\(json): \(m)")
            }
        }
    }
}
