// unclip-run as a user runs it: exit codes and messages for good and bad command lines.
import Foundation
import TensorCore
import WeightIO
import XCTest

/// The built `unclip-run`.
func cliExecutable() throws -> URL {
    let base = Bundle(for: CLITests.self).bundleURL
    let candidates = [base.appendingPathComponent("unclip-run"), base.deletingLastPathComponent().appendingPathComponent("unclip-run")]
    guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: candidates[0].path])
    }
    return exe
}

/// Runs the built `unclip-run` (or `executable`) with `args` (in `cwd` when given) and this process's environment with
/// `env` added (`env` alone with `replacingEnvironment`); returns (exit status, stdout, stderr).
func runCLI(_ args: [String], env: [String: String] = [:], cwd: String? = nil, executable: String? = nil,
            replacingEnvironment: Bool = false) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = try executable.map { URL(fileURLWithPath: $0) } ?? cliExecutable()
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    p.arguments = args
    p.environment = replacingEnvironment ? env : ProcessInfo.processInfo.environment.merging(env) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

final class CLITests: XCTestCase {
    func testUnknownOptionFails() throws {
        let r = try runCLI(["bench", "ops", "--frobnicate"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("Unknown option '--frobnicate'"), r.err)
    }

    func testBadThreadCountFails() throws {
        let r = try runCLI(["bench", "ops", "--threads", "0"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("--threads must be between 1 and 256"), r.err)
        let r2 = try runCLI(["bench", "ops", "--threads", "two"])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertTrue(r2.err.contains("two"), r2.err)
    }

    func testGenerateWithoutWeightsExplainsHowToGetThem() throws {
        let r = try runCLI(["a red circle on a blue background"], env: ["UNCLIP_WEIGHTS": "", "UNCLIP_WEIGHTS_DIRS": NSTemporaryDirectory()],
                           cwd: NSTemporaryDirectory())
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("no weights") && r.err.contains("scripts/convert.py") && r.err.contains("--weights"), r.err)
        let none = try runCLI([])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.err.contains("missing prompt"), none.err)
    }

    func testInspect() throws {
        let path = NSTemporaryDirectory() + "unclip-inspect-\(getpid()).safetensors"
        defer { unlink(path) }
        var w = WeightWriter()
        w.add("prior.proj_in.weight", Tensor(zeros: [4, 3]))
        w.add("prior.proj_in.bias", Tensor(zeros: [4]), as: .f16)
        w.add("decoder.conv_in.weight", Tensor(zeros: [2, 3, 3, 3]))
        w.metadata = ["format": "unclip", "format_version": "1", "components": "prior,decoder",
                      "prior.class": "PriorTransformer", "prior.config": "{\"num_layers\": 20}"]
        try w.write(to: path)
        let r = try runCLI(["inspect", path])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("prior") && r.out.contains("PriorTransformer") && r.out.contains("F16,F32"), r.out)
        let j = try runCLI(["inspect", path, "--json"])
        XCTAssertEqual(j.status, 0, j.err)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        XCTAssertEqual(obj["parameters"] as? Int, 16 + 54)
        XCTAssertEqual(obj["format_version"] as? String, "1")
        let comps = try XCTUnwrap(obj["components"] as? [[String: Any]])
        XCTAssertEqual(comps.map { $0["name"] as? String }, ["prior", "decoder"])
        XCTAssertEqual(comps[0]["parameters"] as? Int, 16)
    }

    func testInspectCorruptFileFails() throws {
        let path = NSTemporaryDirectory() + "unclip-corrupt-\(getpid()).safetensors"
        defer { unlink(path) }
        FileManager.default.createFile(atPath: path, contents: Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x7B]))
        let r = try runCLI(["inspect", path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("exceeds"), r.err)
        let missing = try runCLI(["inspect", "/nonexistent/w.safetensors"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("cannot open weights file /nonexistent/w.safetensors"), missing.err)
    }
}

final class TokenizeCLITests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny-a/model.safetensors").path

    func testTokenizePrintsThePaddedIds() throws {
        // Ids from transformers' CLIPTokenizer (Tests/TokenizerTests/Fixtures/corpus.json, "Hello, world!").
        let r = try runCLI(["tokenize", "--weights", Self.fixture, "--json", "Hello, world!"])
        XCTAssertEqual(r.status, 0, r.err)
        let ids = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [Int])
        XCTAssertEqual(ids.count, 77)
        XCTAssertEqual(Array(ids.prefix(6)), [49406, 3306, 267, 1002, 0, 49407])
        XCTAssertTrue(r.err.isEmpty, r.err)
    }

    func testTokenizeWarnsWhenTruncating() throws {
        let r = try runCLI(["tokenize", "--weights", Self.fixture, String(repeating: "red cat ", count: 50)])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.split(separator: " ").count, 77)
        XCTAssertTrue(r.err.contains("truncated because CLIP can only handle sequences up to 77 tokens: cat red cat"), r.err)
    }

    func testTokenizeWithoutWeightsExplainsHowToGetThem() throws {
        let r = try runCLI(["tokenize", "x"], env: ["UNCLIP_WEIGHTS": "", "UNCLIP_WEIGHTS_DIRS": "/nonexistent"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("no weights") && r.err.contains("--weights"), r.err)
        let bad = try runCLI(["tokenize", "--weights", "/nonexistent.safetensors", "x"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("cannot open weights file"), bad.err)
    }
}
