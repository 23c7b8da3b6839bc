// Access to the shared golden files (scripts/make_fixtures.py → Tests/Fixtures/models/common.safetensors,
// scripts/make_scheduler_fixtures.py → Tests/Fixtures/schedulers.safetensors).
import Foundation
import TensorCore
import WeightIO
import XCTest

/// The committed fixture files, found relative to this source file (shared with other test targets).
enum SchedulerFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Config-independent goldens: `rng.*`, `scheduler.*` (UnCLIPScheduler).
    static func common() throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("models/common.safetensors").path)
    }

    /// Model-free diffusers loops for every scheduler class (`loop.<name>.*`) and extra RNG goldens.
    static func loops() throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("schedulers.safetensors").path)
    }
}

extension WeightFile {
    /// A golden float tensor, copied out of the mapping.
    func goldenTensor(_ key: String) throws -> Tensor {
        guard let info = tensors[key] else { throw WeightFileError.missingTensor(key: key) }
        return try floatTensor(info).copy()
    }

    /// Outer slice `i` of a golden `[N, …]` tensor, as its own tensor.
    func goldenSlice(_ key: String, _ i: Int) throws -> Tensor {
        let all = try goldenTensor(key)
        return all.slice(outer: i, count: 1).copy().reshaped(Array(all.shape.dropFirst()))
    }
}

/// Max |Δ| relative to the reference's largest magnitude, with the first mismatches printed on failure.
/// Passes when max|Δ| ≤ max(relTol · max|ref|, absTol).
func assertClose(_ actual: Tensor, _ expected: Tensor, relTol: Float, absTol: Float = 0, _ label: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(label) shape", file: file, line: line)
    guard actual.count == expected.count else { return }
    var maxDiff: Float = 0, maxRef: Float = 0, worst = 0
    for i in 0..<actual.count {
        let d = abs(actual.data[i] - expected.data[i])
        if d.isNaN || d > maxDiff { maxDiff = d.isNaN ? .infinity : d; worst = i }
        maxRef = max(maxRef, abs(expected.data[i]))
    }
    let rel = maxDiff / max(maxRef, 1e-30)
    if rel > relTol, maxDiff <= absTol {
        print(String(format: "note: %@: max|Δ| %.3g = %.3g × max|ref|, within the step's sensitivity bound %.3g", label, maxDiff, rel, absTol))
    }
    XCTAssertLessThanOrEqual(rel, max(relTol, absTol / max(maxRef, 1e-30)),
        "\(label): max|Δ| \(maxDiff) at \(worst) (got \(actual.data[worst]), want \(expected.data[worst])), max|ref| \(maxRef)",
        file: file, line: line)
}

/// Bitwise equality of two float arrays, naming the first differing index.
func assertBitwiseEqual(_ actual: [Float], _ expected: [Float], _ label: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(label) count", file: file, line: line)
    for i in 0..<min(actual.count, expected.count) where actual[i].bitPattern != expected[i].bitPattern {
        let bad = (0..<min(actual.count, expected.count)).filter { actual[$0].bitPattern != expected[$0].bitPattern }.count
        XCTFail("\(label): \(bad) of \(expected.count) values differ; first at \(i): got \(actual[i]), want \(expected[i])",
                file: file, line: line)
        return
    }
}
