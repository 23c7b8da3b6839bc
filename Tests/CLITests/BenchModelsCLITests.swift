// `unclip-run bench models --inputs/--outputs` (the Swift side of scripts/parity_full.py): given inputs are used,
// outputs are written, and bad input files are refused with a message naming the problem.
import Foundation
import TensorCore
import WeightIO
import XCTest

final class BenchModelsCLITests: XCTestCase {
    static let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny-a/model.safetensors").path

    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-benchmodels-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func superResInputs(side: Int, name: String, period: Int = 17) throws -> String {
        var w = WeightWriter()
        let values = (0..<(6 * side * side)).map { Float($0 % period) / Float(period) - 0.5 }
        w.add("super_res_first.sample", Tensor(shape: [1, 6, side, side], values: values))
        w.addInts("super_res_first.timestep", [500], shape: [1])
        let path = dir + "/" + name
        try w.write(to: path)
        return path
    }

    func testGivenInputsAreUsedAndTheOutputIsWritten() throws {
        var inputs = try superResInputs(side: 64, name: "in.safetensors")
        func run(_ out: String) throws -> [Float] {
            let r = try runCLI(["bench", "models", "--weights", Self.weights, "--components", "super_res_first", "--repeats", "1",
                                "--inputs", inputs, "--outputs", out])
            XCTAssertEqual(r.status, 0, r.err)
            let f = try WeightFile(path: out)
            let t = try f.floatTensor(XCTUnwrap(f.tensors["super_res_first.output"]))
            XCTAssertEqual(t.shape, [1, 3, 64, 64])
            return Array(UnsafeBufferPointer(start: t.data, count: t.count))
        }
        let a = try run(dir + "/a.safetensors"), b = try run(dir + "/b.safetensors")
        XCTAssertEqual(a, b, "the same inputs give the same output")
        XCTAssertTrue(a.contains { $0 != 0 })
        inputs = try superResInputs(side: 64, name: "other.safetensors", period: 13)
        XCTAssertNotEqual(try run(dir + "/c.safetensors"), a, "other inputs give another output: the file is what runs")
    }

    /// The CLIP text tower (issue #13's side-by-side table): the given token ids run, the output is
    /// last_hidden_state then text_embeds, and ids that are not 2×77 vocabulary entries are refused.
    func testTextEncoderTakesGivenIdsAndRefusesBadOnes() throws {
        let file = try WeightFile(path: Self.weights)
        let cfg = try XCTUnwrap(file.metadata["text_encoder.config"])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(cfg.utf8)) as? [String: Any])
        let n = json["max_position_embeddings"] as? Int ?? 77, vocab = json["vocab_size"] as? Int ?? 49408
        let width = try XCTUnwrap(json["hidden_size"] as? Int), proj = try XCTUnwrap(json["projection_dim"] as? Int)
        func inputs(_ ids: [Int], _ name: String) throws -> String {
            var w = WeightWriter()
            w.addInts("text_encoder.input_ids", ids, shape: [ids.count])
            try w.write(to: dir + "/" + name)
            return dir + "/" + name
        }
        func run(_ ids: [Int]) throws -> (status: Int32, err: String, out: [Float]) {
            let out = dir + "/out-\(UUID().uuidString.prefix(6)).safetensors"
            let r = try runCLI(["bench", "models", "--weights", Self.weights, "--components", "text_encoder", "--repeats", "1",
                                "--inputs", try inputs(ids, "ids.safetensors"), "--outputs", out])
            guard r.status == 0 else { return (r.status, r.err, []) }
            let f = try WeightFile(path: out), t = try f.floatTensor(XCTUnwrap(f.tensors["text_encoder.output"]))
            return (r.status, r.err, Array(UnsafeBufferPointer(start: t.data, count: t.count)))
        }
        let pad = [Int](repeating: vocab - 1, count: n - 2)
        let a = try run([vocab - 2, vocab - 1] + pad + [vocab - 2, 320] + [Int](repeating: vocab - 1, count: n - 2))
        XCTAssertEqual(a.status, 0, a.err)
        XCTAssertEqual(a.out.count, 2 * n * width + 2 * proj, "last_hidden_state [2, \(n), \(width)] then text_embeds [2, \(proj)]")
        let b = try run([vocab - 2, vocab - 1] + pad + [vocab - 2, 321] + [Int](repeating: vocab - 1, count: n - 2))
        XCTAssertNotEqual(a.out, b.out, "other ids give another output")
        for bad in [[Int](repeating: 1, count: n), [vocab] + [Int](repeating: 1, count: 2 * n - 1)] {
            let r = try run(bad)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.err.contains("text_encoder.input_ids must hold 2×\(n) token ids below \(vocab)"), r.err)
        }
    }

    func testBadInputFilesFailClearly() throws {
        let wrong = try superResInputs(side: 32, name: "wrong.safetensors")
        let garbage = dir + "/garbage.safetensors"
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: garbage))
        let cases: [([String], String)] = [
            (["--components", "prior", "--inputs", wrong], "--inputs has no prior.timestep"),
            (["--components", "super_res_first", "--inputs", wrong], "has shape [1, 6, 32, 32], expected [1, 6, 64, 64]"),
            (["--components", "super_res_first", "--inputs", garbage], "--inputs:"),
            (["--components", "super_res_first", "--outputs", dir + "/missing-dir/out.safetensors"], "--outputs:"),
        ]
        for (args, message) in cases {
            let r = try runCLI(["bench", "models", "--weights", Self.weights, "--repeats", "1"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing-dir"))
    }
}
