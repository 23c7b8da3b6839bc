// unclip tensor core: a contiguous row-major Float32 tensor (images NCHW), in the spirit of llm.c's flat buffers.
import Foundation

/// A contiguous, row-major Float32 tensor. Images are NCHW, token sequences `[B, T, C]`.
///
/// `Tensor` is a reference type: ops write into tensors the caller owns, so a model can reuse its
/// buffers across denoising steps without allocating. A tensor either owns 64-byte-aligned memory or
/// is a view that keeps its `owner` (a weight file mapping, or another tensor) alive.
public final class Tensor: @unchecked Sendable {
    /// The dimensions, outermost first.
    public let shape: [Int]
    /// The number of elements, `shape.reduce(1, *)`.
    public let count: Int
    /// The first element. Valid for `count` elements while this tensor is alive.
    public let data: UnsafeMutablePointer<Float>
    private let owner: AnyObject?
    /// The pool of the context that allocated the storage (nil: a view); the storage goes back to it.
    private let pool: TensorPool?

    /// A zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        let pool = ComputeContext.current.pool
        self.data = Tensor.allocate(count, pool)
        self.data.initialize(repeating: 0, count: count)
        self.owner = nil
        self.pool = pool
    }

    /// An uninitialised tensor (contents are whatever the allocator returned) for outputs that an op fully overwrites.
    public init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        let pool = ComputeContext.current.pool
        self.data = Tensor.allocate(count, pool)
        self.owner = nil
        self.pool = pool
    }

    /// A tensor holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of memory that `owner` keeps alive (a weight mapping, another tensor).
    public init(viewing pointer: UnsafeMutablePointer<Float>, shape: [Int], owner: AnyObject?) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = pointer
        self.owner = owner
        self.pool = nil
    }

    deinit {
        pool?.give(data, count: max(count, 1))
    }

    private static func allocate(_ count: Int, _ pool: TensorPool) -> UnsafeMutablePointer<Float> {
        if let p = pool.take(max(count, 1)) { return p }
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// A view with another shape of the same element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(viewing: data, shape: newShape, owner: self)
    }

    /// A view of `rows` consecutive outer slices starting at `start` (no copy).
    public func slice(outer start: Int, count n: Int) -> Tensor {
        precondition(rank >= 1 && start >= 0 && start + n <= shape[0], "slice \(start)..<\(start + n) out of \(shape)")
        let inner = shape.dropFirst().reduce(1, *)
        return Tensor(viewing: data + start * inner, shape: [n] + shape.dropFirst(), owner: self)
    }

    /// The elements as an array (copies).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// A deep copy.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Element access by flat index (slow path: tests and glue only).
    public subscript(flat i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(6).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 6 ? ", …" : "")])"
    }
}
