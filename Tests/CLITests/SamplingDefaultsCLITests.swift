// A weights file's recommended settings (`sampling_defaults`, weights/FORMAT.md) as `unclip-run` applies them: used
// where no option is given, overridden by options, shown by `inspect`, and a malformed value is a clear error.
import Foundation
import ImageIO
import WeightIO
import XCTest

final class SamplingDefaultsCLITests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-defaults-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A copy of `source` with `sampling_defaults` set in its `__metadata__` (header rewritten, data bytes unchanged).
    private func weights(withDefaults json: String, name: String) throws -> String {
        let path = dir + "/" + name + ".safetensors"
        try WeightWriter.copy(GenerateCLITests.weights, to: path) { $0["sampling_defaults"] = json }
        return path
    }

    private func parameters(_ png: String) throws -> String { try XCTUnwrap(try PNG.read(path: png).text("parameters")) }

    func testTheFilesRecommendationIsTheDefaultAndOptionsWin() throws {
        let recommended = try weights(withDefaults: #"{"prior_num_inference_steps": 3, "decoder_num_inference_steps": 4,"#
            + #" "super_res_num_inference_steps": 2, "prior_guidance_scale": 3, "decoder_guidance_scale": 2.5}"#, name: "rec")
        let byDefault = dir + "/default.png", explicit = dir + "/explicit.png", overridden = dir + "/override.png"
        var r = try runCLI(["a red circle on a blue background", "--weights", recommended, "--seed", "5", "--output", byDefault])
        XCTAssertEqual(r.status, 0, r.err)
        let text = try parameters(byDefault)
        XCTAssertTrue(text.contains("Steps: 4, Sampler: unclip, CFG scale: 2.5, Seed: 5"), text)
        XCTAssertTrue(text.contains("Prior steps: 3, Prior CFG scale: 3.0, Prior sampler: unclip, SR steps: 2"), text)
        // The same numbers given as options on the file without a recommendation draw the same pixels.
        r = try runCLI(["a red circle on a blue background", "--weights", GenerateCLITests.weights, "--seed", "5",
                        "--prior-steps", "3", "--decoder-steps", "4", "--super-res-steps", "2", "--prior-guidance", "3",
                        "--decoder-guidance", "2.5", "--output", explicit])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try PNG.read(path: byDefault).image.pixels, try PNG.read(path: explicit).image.pixels)
        // Options win over the file.
        r = try runCLI(["a red circle on a blue background", "--weights", recommended, "--seed", "5", "--decoder-guidance", "6",
                        "--prior-steps", "2", "--output", overridden])
        XCTAssertEqual(r.status, 0, r.err)
        let over = try parameters(overridden)
        XCTAssertTrue(over.contains("Steps: 4, Sampler: unclip, CFG scale: 6.0, Seed: 5"), over)
        XCTAssertTrue(over.contains("Prior steps: 2, Prior CFG scale: 3.0"), over)
        // inspect shows it; without one, it says diffusers' defaults apply.
        let shown = try runCLI(["inspect", recommended])
        XCTAssertEqual(shown.status, 0, shown.err)
        XCTAssertTrue(shown.out.contains(#"sampling:       {"prior_num_inference_steps": 3, "decoder_num_inference_steps": 4,"#),
                      shown.out)
        XCTAssertTrue(shown.out.contains(#""decoder_guidance_scale": 2.5} (the file's recommendation)"#), shown.out)
        XCTAssertTrue(try runCLI(["inspect", GenerateCLITests.weights]).out.contains("sampling:       diffusers' defaults"))
    }

    func testVariationsUseTheRecommendationToo() throws {
        let recommended = try weights(withDefaults: #"{"decoder_num_inference_steps": 3, "super_res_num_inference_steps": 2,"#
            + #" "decoder_guidance_scale": 1.5}"#, name: "rec")
        let src = dir + "/src.png", out = dir + "/var.png"
        try PNG.write(Image8(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: 200, count: 8 * 8 * 3)), to: src)
        let r = try runCLI(["variations", "--image", src, "--weights", recommended, "--seed", "1", "--output", out])
        XCTAssertEqual(r.status, 0, r.err)
        let text = try parameters(out)
        XCTAssertTrue(text.contains("Steps: 3, Sampler: unclip, CFG scale: 1.5, Seed: 1"), text)
        XCTAssertTrue(text.contains("SR steps: 2"), text)
    }

    func testMalformedRecommendationFailsClearlyAndWritesNothing() throws {
        let cases = [(#"{"decoder_guidance_scale": -2}"#, "sampling_defaults: decoder_guidance_scale must be a number ≥ 0, got -2"),
                     (#"{"steps": 10}"#, "sampling_defaults: unknown key 'steps'"),
                     (#"not json"#, "sampling_defaults is not a JSON object of numbers")]
        for (k, (json, message)) in cases.enumerated() {
            let bad = try weights(withDefaults: json, name: "bad\(k)")
            for args in [["a red circle", "--weights", bad], ["bench", "pipeline", "--weights", bad, "--out-dir", dir + "/bench"]] {
                let r = try runCLI(args + (args[0] == "bench" ? [] : ["--output", dir + "/never.png"]))
                XCTAssertNotEqual(r.status, 0, json)
                XCTAssertTrue(r.err.contains("weights file \(bad): \(message)"), "\(json): \(r.err)")
            }
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasSuffix(".safetensors") }
        XCTAssertEqual(left, [])
    }
}
