// The weights-file reader: valid files, every corruption case in weights/FORMAT.md, and strict scoped loading.
import Foundation
import TensorCore
import WeightIO
import XCTest

final class WeightFileTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-wf-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes raw bytes: 8-byte length, `header` verbatim, then `data`.
    func raw(_ name: String, header: String, data: [UInt8] = [], length: UInt64? = nil) -> String {
        var d = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(h); d.append(contentsOf: data)
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: d)
        return path
    }

    func expectError(_ path: String, contains fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try WeightFile(path: path), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(fragment), "error '\(text)' does not mention '\(fragment)'", file: file, line: line)
        }
    }

    func sampleFile() throws -> String {
        var w = WeightWriter()
        w.add("m.a.weight", Tensor(shape: [2, 3], values: [1, -2, 3.5, 0.25, -0.125, 1e-3]))
        w.add("m.a.bias", Tensor(shape: [3], values: [0.5, 65504, -1]), as: .f16)
        w.add("m.b", Tensor(shape: [2], values: [1.00390625, -3.0]), as: .bf16)
        w.addInts("aux.ids", [49406, 7, 49407], shape: [3])
        w.metadata = ["format": "unclip", "format_version": "1", "m.config": "{\"x\": 1}"]
        let path = dir + "/ok.safetensors"
        try w.write(to: path)
        return path
    }

    func testRoundTripAllDTypes() throws {
        let f = try WeightFile(path: try sampleFile())
        XCTAssertEqual(f.metadata["m.config"], "{\"x\": 1}")
        XCTAssertEqual(f.tensors["m.a.bias"]?.dtype, .f16)
        let s = f.scope("m")
        XCTAssertEqual(try s.tensor("a.weight", shape: [2, 3]).scalars, [1, -2, 3.5, 0.25, -0.125, 1e-3])
        XCTAssertEqual(try s.tensor("a.bias", shape: [3]).scalars, [0.5, 65504, -1])
        XCTAssertEqual(try s.tensor("b", shape: [2]).scalars, [1.0, -3.0], "bf16 keeps 8 mantissa bits (1.0039 rounds to 1)")
        XCTAssertEqual(try f.ints("aux.ids"), [49406, 7, 49407])
        XCTAssertNoThrow(try s.checkAllUsed())
        XCTAssertEqual(s.parameterCount, 11)
    }

    func testScopedLoadingIsStrict() throws {
        let f = try WeightFile(path: try sampleFile())
        let s = f.scope("m")
        XCTAssertThrowsError(try s.tensor("a.weight", shape: [3, 2])) {
            XCTAssertEqual("\($0)", "tensor 'm.a.weight' has shape [2, 3], expected [3, 2]")
        }
        XCTAssertThrowsError(try s.scope("a").tensor("gamma", shape: [3])) {
            XCTAssertEqual("\($0)", "missing tensor 'm.a.gamma' in weights file")
        }
        _ = try s.scope("a").tensor("weight", shape: [2, 3])
        XCTAssertThrowsError(try s.checkAllUsed()) { e in
            XCTAssertTrue("\(e)".contains("m.a.bias") && "\(e)".contains("m.b"), "\(e)")
        }
        XCTAssertTrue(s.containsScope("a"))
        XCTAssertNil(try s.optionalTensor("nothing", shape: [1]))
        XCTAssertThrowsError(try f.scope("aux").tensor("ids", shape: [3])) { XCTAssertTrue("\($0)".contains("not a float type")) }
    }

    func testTruncatedAndTinyFiles() throws {
        expectError(raw("empty", header: "", length: 0), contains: "does not start")
        let p = dir + "/short"
        FileManager.default.createFile(atPath: p, contents: Data([1, 2, 3]))
        expectError(p, contains: "truncated")
        // A valid file cut in the middle of its data.
        let ok = try sampleFile()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ok))
        let cut = dir + "/cut"
        FileManager.default.createFile(atPath: cut, contents: bytes.prefix(bytes.count - 5))
        expectError(cut, contains: "past the")
        expectError(dir + "/does-not-exist", contains: "cannot open")
        expectError(dir, contains: "not a regular file")
    }

    func testHeaderLengthProblems() {
        expectError(raw("past", header: "{}", length: 1000), contains: "runs past the end")
        expectError(raw("huge", header: "{}", length: 1 << 40), contains: "exceeds")
        expectError(raw("huge2", header: "{}", length: UInt64.max), contains: "exceeds")
    }

    func testMalformedHeaders() {
        expectError(raw("json", header: "{\"a\": "), contains: "invalid JSON")
        expectError(raw("array", header: "[1, 2]"), contains: "does not start with '{'")
        var bad = Data([0x7B, 0xFF, 0xFE, 0x7D])
        let p = dir + "/utf8"
        var d = Data()
        withUnsafeBytes(of: UInt64(bad.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(bad); bad = d
        FileManager.default.createFile(atPath: p, contents: bad)
        expectError(p, contains: "UTF-8")
        expectError(raw("meta", header: "{\"__metadata__\": {\"a\": 1}}"), contains: "not a string")
        expectError(raw("entry", header: "{\"t\": 5}"), contains: "entry is not an object")
    }

    func testBadEntries() {
        let four = [UInt8](repeating: 0, count: 4)
        expectError(raw("dtype", header: #"{"t": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}"#, data: four + four),
                    contains: "unknown dtype 'F64'")
        expectError(raw("count", header: #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#, data: four),
                    contains: "needs 8 bytes but data_offsets span 4")
        expectError(raw("range", header: #"{"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, data: four),
                    contains: "past the 4-byte data buffer")
        expectError(raw("neg", header: #"{"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, data: four),
                    contains: "invalid dimension")
        expectError(raw("frac", header: #"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [0.5, 4]}}"#, data: four),
                    contains: "invalid data_offsets")
        expectError(raw("order", header: #"{"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, data: four),
                    contains: "increasing pair")
        expectError(raw("overflow", header: #"{"t": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 4]}}"#, data: four),
                    contains: "overflows")
        expectError(raw("noshape", header: #"{"t": {"dtype": "F32", "data_offsets": [0, 4]}}"#, data: four), contains: "shape")
    }

    func testOverlapHolesAndTrailingBytes() {
        let eight = [UInt8](repeating: 0, count: 8)
        expectError(raw("overlap", header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: eight),
                    contains: "overlap")
        expectError(raw("hole", header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: eight),
                    contains: "belong to no tensor")
        expectError(raw("trailing", header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, data: eight),
                    contains: "trailing")
    }

    func testUnsupportedFormatVersion() {
        expectError(raw("version", header: #"{"__metadata__": {"format": "unclip", "format_version": "2"}}"#),
                    contains: "unsupported unclip format_version '2'")
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        _ = try sampleFile()
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(names, ["ok.safetensors"])
    }
}
