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
