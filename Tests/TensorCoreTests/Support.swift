// Shared test helpers: golden fixtures and error statistics (max-abs and normalised error, as ggml/llm.c).
import Foundation
import TensorCore
import WeightIO
import XCTest

/// Error statistics of `actual` against the reference `expected`.
struct ErrorStats: CustomStringConvertible {
    var maxAbs: Float
    var refMax: Float
    /// Σ(a−e)² / Σe²
    var nmse: Double
    var description: String {
        String(format: "max|Δ| %.3g (%.3g of max|ref| %.3g), nmse %.3g", maxAbs, maxAbs / max(refMax, 1e-30), refMax, nmse)
    }

    init(_ actual: [Float], _ expected: [Float]) {
        precondition(actual.count == expected.count, "length \(actual.count) vs \(expected.count)")
        var m: Float = 0, r: Float = 0, num = 0.0, den = 0.0
        for i in 0..<actual.count {
            let d = abs(actual[i] - expected[i])
            if !(d <= m) { m = d.isNaN ? .infinity : max(m, d) }
            r = max(r, abs(expected[i]))
            num += Double(d) * Double(d); den += Double(expected[i]) * Double(expected[i])
        }
        maxAbs = m; refMax = r; nmse = den > 0 ? num / den : num
    }
}

/// Asserts `max|actual − expected| ≤ relTol · max|expected|` (plus a tiny absolute floor) and reports the stats.
func assertClose(_ actual: [Float], _ expected: [Float], relTol: Float = 1e-5, absTol: Float = 1e-6,
                 _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(label): \(actual.count) values, expected \(expected.count)", file: file, line: line); return
    }
    let s = ErrorStats(actual, expected)
    let ok = s.maxAbs <= relTol * s.refMax + absTol
    print("parity \(label): \(s)")
    if !ok {
        var firsts: [String] = []
        for i in 0..<actual.count where abs(actual[i] - expected[i]) > relTol * s.refMax + absTol {
            firsts.append("[\(i)] \(actual[i]) vs \(expected[i])")
            if firsts.count == 5 { break }
        }
        XCTFail("\(label): \(s) exceeds tolerance \(relTol); first: \(firsts.joined(separator: ", "))", file: file, line: line)
    }
}

/// The PyTorch golden values made by scripts/make_op_fixtures.py.
final class OpFixtures {
    static let shared: OpFixtures = {
        guard let url = Bundle.module.url(forResource: "Fixtures/ops", withExtension: "safetensors") else {
            fatalError("Fixtures/ops.safetensors missing: run scripts/make_op_fixtures.py")
        }
        return try! OpFixtures(path: url.path)
    }()

    let file: WeightFile
    init(path: String) throws { file = try WeightFile(path: path) }

    func tensor(_ key: String) -> Tensor {
        guard let info = file.tensors[key] else { fatalError("fixture tensor \(key) missing") }
        return try! file.floatTensor(info).copy()
    }

    func params(_ testCase: String) -> [String: Any] {
        let text = file.metadata[testCase] ?? "{}"
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    func int(_ testCase: String, _ key: String) -> Int { (params(testCase)[key] as? NSNumber)!.intValue }
    func float(_ testCase: String, _ key: String) -> Float { (params(testCase)[key] as? NSNumber)!.floatValue }
}

/// Deterministic pseudo-random tensor (xorshift), for fast-path vs naive-reference tests.
func pseudoRandom(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    let t = Tensor(uninitialized: shape)
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    for i in 0..<t.count {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        t.data[i] = (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
    return t
}
