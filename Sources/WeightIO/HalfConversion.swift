// Widening of F16 / BF16 storage to Float32 (once, at load: see weights/FORMAT.md).
import TensorCore

public enum HalfConversion {
    /// Converts `count` little-endian halfs at `src` into Float32 at `dst`.
    public static func widen(_ src: UnsafeRawPointer, dtype: DType, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            for i in 0..<count { dst[i] = src.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
        case .f16:
            Threading.parallelRanges(count, grain: 1 << 16) { r in
                for i in r { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
            }
        case .bf16:
            Threading.parallelRanges(count, grain: 1 << 16) { r in
                for i in r { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)) << 16) }
            }
        default:
            preconditionFailure("widen: \(dtype) is not a float type")
        }
    }
}
