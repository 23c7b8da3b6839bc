// Scoped, strict weight loading in the spirit of candle's VarBuilder: keys are the exported tensor names,
// shapes are checked, and a model must consume every tensor under its prefix.
import TensorCore

/// Records which keys a model has read.
public final class WeightUsage: @unchecked Sendable {
    var used = Set<String>()
}

/// A view of the tensors under one name prefix (`decoder.`, then `decoder.down_blocks.0.`, …).
public struct WeightScope {
    public let file: WeightFile
    /// The full prefix including the trailing dot (empty for the root).
    public let prefix: String
    let usage: WeightUsage
    /// How layers under this scope store their matmul weights (inherited by narrower scopes).
    public let precision: MatmulPrecision

    /// A narrower scope: `scope("down_blocks").scope(0)` reads `…down_blocks.0.*`.
    public func scope(_ name: String) -> WeightScope {
        WeightScope(file: file, prefix: prefix + name + ".", usage: usage, precision: precision)
    }

    /// The same scope with its layers stored in `precision` (e.g. fp32 for a layer kept out of bf16).
    public func with(precision: MatmulPrecision) -> WeightScope {
        WeightScope(file: file, prefix: prefix, usage: usage, precision: precision)
    }

    /// `scope(String(index))`.
    public func scope(_ index: Int) -> WeightScope { scope(String(index)) }

    /// Whether `name` exists under this scope.
    public func contains(_ name: String) -> Bool { file.tensors[prefix + name] != nil }

    /// Whether any tensor lies under the sub-scope `name`.
    public func containsScope(_ name: String) -> Bool {
        let p = prefix + name + "."
        return file.tensors.keys.contains { $0.hasPrefix(p) }
    }

    /// The tensor `name` as Float32, checked against `shape`; marks it used.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let key = prefix + name
        guard let info = file.tensors[key] else { throw WeightFileError.missingTensor(key: key) }
        guard info.shape == shape else { throw WeightFileError.wrongShape(key: key, expected: shape, actual: info.shape) }
        let t = try file.floatTensor(info)
        usage.used.insert(key)
        return t
    }

    /// The matrix `name` (shape `shape`, viewed as `[shape[0], rest]`) rounded to bf16 and packed in panels of
    /// `width` rows; marks it used. The fp32 values are not kept: the mapped pages (or the widened copy) are released.
    public func packedBF16(_ name: String, shape: [Int], width: Int) throws -> PackedBF16 {
        // A CPU without the bf16 kernels (or UNCLIP_BF16=off): the error that names why, never PackedBF16's trap.
        _ = try PrecisionChoice.bf16.resolve()
        let key = prefix + name
        guard let info = file.tensors[key] else { throw WeightFileError.missingTensor(key: key) }
        let t = try tensor(name, shape: shape)
        let k = t.count / max(shape[0], 1)
        let packed = PackedBF16(rows: shape[0], k: k, width: width, from: t.data, ld: k)
        file.releasePages(info)
        return packed
    }

    /// The tensor `name` when present (optional parameters such as a bias), else nil.
    public func optionalTensor(_ name: String, shape: [Int]) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    /// Throws if any tensor under this scope was not read: a model must consume every tensor it owns.
    public func checkAllUsed() throws {
        let unused = file.tensors.keys.filter { $0.hasPrefix(prefix) && !usage.used.contains($0) }.sorted()
        if !unused.isEmpty { throw WeightFileError.unusedTensors(prefix: prefix, keys: unused) }
    }

    /// Number of parameters (elements) stored under this scope.
    public var parameterCount: Int {
        file.tensors.values.filter { $0.name.hasPrefix(prefix) }.reduce(0) { $0 + $1.count }
    }
}
