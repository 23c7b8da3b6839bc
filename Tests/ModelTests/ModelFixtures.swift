// Access to the tiny random-weight unCLIP fixtures (scripts/make_fixtures.py → Tests/Fixtures/models).
import Foundation
import TensorCore
import WeightIO
import XCTest

/// The committed fixture files, found relative to this source file (they are shared by several test targets).
enum ModelFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")
    static let configs = ["tiny-a", "tiny-b"]

    static func model(_ config: String) throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("\(config)/model.safetensors").path)
    }

    static func golden(_ config: String) throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("\(config)/golden.safetensors").path)
    }

    static func common() throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("common.safetensors").path)
    }
}

extension WeightFile {
    /// A golden float tensor (copied out of the mapping).
    func golden(_ key: String) throws -> Tensor {
        guard let info = tensors[key] else { throw WeightFileError.missingTensor(key: key) }
        return try floatTensor(info).copy()
    }

    /// Rows of an integer golden `[rows, cols]`.
    func intRows(_ key: String) throws -> [[Int]] {
        guard let info = tensors[key] else { throw WeightFileError.missingTensor(key: key) }
        let flat = try ints(key), cols = info.shape.last ?? 1
        return stride(from: 0, to: flat.count, by: cols).map { Array(flat[$0..<($0 + cols)]) }
    }
}

/// Parity statistics: max-abs error relative to the reference's largest magnitude, and normalised MSE.
func parity(_ actual: Tensor, _ expected: Tensor, relTol: Float, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(label) shape", file: file, line: line)
    guard actual.count == expected.count else { return }
    var m: Float = 0, r: Float = 0, num = 0.0, den = 0.0
    for i in 0..<actual.count {
        let d = abs(actual.data[i] - expected.data[i])
        m = d.isNaN ? .infinity : max(m, d)
        r = max(r, abs(expected.data[i]))
        num += Double(d * d); den += Double(expected.data[i] * expected.data[i])
    }
    let rel = m / max(r, 1e-30)
    print(String(format: "parity %@: max|Δ| %.3g = %.3g × max|ref| (%.3g), nmse %.3g", label, m, rel, r, den > 0 ? num / den : num))
    XCTAssertLessThanOrEqual(rel, relTol, "\(label): max|Δ| \(m) vs max|ref| \(r)", file: file, line: line)
}
