// The bf16 matmul path (oneDNN's avx512_core_bf16 brgemm idea): weights rounded to bf16 and packed once at load,
// activations rounded on the fly, fp32 accumulation; the kernels are the C target BF16Kernels.
import BF16Kernels
import Foundation

/// The arithmetic of the engine's matrix products (Linear and Conv2d layers).
public enum MatmulPrecision: String, Sendable, CaseIterable, Codable {
    /// fp32 weights, OpenBLAS sgemm.
    case fp32
    /// bf16 weights packed at load, activations rounded to bf16, fp32 sums (AVX512-BF16 `vdpbf16ps`).
    case bf16

    /// Whether this CPU runs the bf16 kernels (AVX512-BF16 and the OS's AVX-512 state), and
    /// `UNCLIP_BF16` is not `off` (the switch that forces the fp32 fallback, e.g. for sanitizers).
    public static var bf16Available: Bool {
        Threading.hardware.features.avx512BF16 && ProcessInfo.processInfo.environment["UNCLIP_BF16"] != "off"
    }

    /// The kernel that runs this precision here, for benchmark headers.
    public var kernelName: String {
        switch self {
        case .fp32: return "OpenBLAS sgemm (\(Threading.blasCore))"
        case .bf16: return "avx512-bf16 vdpbf16ps"
        }
    }
}

/// A matrix rounded to bf16 and packed into panels of bf16 pairs for `unclip_bf16_gemm`: `rows × k` in panels of
/// `width` rows (``aWidth`` for the left operand, ``bWidth`` for the right one).
public final class PackedBF16: @unchecked Sendable {
    /// Rows of the left operand per panel (the micro-kernel's height).
    public static let aWidth = Int(UNCLIP_BF16_MR)
    /// Columns of the right operand per panel.
    public static let bWidth = Int(UNCLIP_BF16_NR)

    public let rows: Int, k: Int, width: Int
    public let data: UnsafeMutablePointer<UInt32>
    /// 32-bit words held (each a bf16 pair).
    public let words: Int

    /// Packs the row-major fp32 matrix `src[rows][k]` (leading dimension `ld`). Needs ``MatmulPrecision/bf16Available``.
    public init(rows: Int, k: Int, width: Int, from src: UnsafePointer<Float>, ld: Int) {
        precondition(MatmulPrecision.bf16Available, "bf16 packing needs AVX512-BF16")
        self.rows = rows; self.k = k; self.width = width
        words = unclip_bf16_panels_size(Int32(rows), Int32(k), Int32(width))
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(words, 16) * 4) == 0, let raw else { fatalError("out of memory packing weights") }
        data = raw.bindMemory(to: UInt32.self, capacity: max(words, 16))
        unclip_bf16_pack_rows(src, ld, Int32(rows), Int32(k), Int32(width), data)
    }

    deinit { free(data) }

    /// Rows `[r0, r1)` widened back to fp32 into `dst[r − r0][0..<k]` (leading dimension `k`).
    public func unpack(rows r0: Int, _ r1: Int, into dst: UnsafeMutablePointer<Float>) {
        precondition(0 <= r0 && r0 <= r1 && r1 <= rows, "unpack: rows \(r0)..<\(r1) of \(rows)")
        unclip_bf16_unpack_rows(data, Int32(rows), Int32(k), Int32(width), Int32(r0), Int32(r1), dst, k)
    }

    /// Bytes held.
    public var bytes: Int { words * 4 }
}

extension GEMM {
    /// `C[m][n] (+)= A·B` with both operands packed (A in ``PackedBF16/aWidth`` panels, B in ``PackedBF16/bWidth``
    /// panels over the same K), split by B panels across the run's threads. The per-element sum order does not
    /// depend on the split, so any thread count gives the same bytes.
    public static func bf16(m: Int, n: Int, k: Int, a: UnsafePointer<UInt32>, b: UnsafePointer<UInt32>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, parallel: Bool = true) {
        guard m > 0, n > 0 else { return }
        ComputeContext.current.counters.addFlops(Int64(2 * m * n * k))
        let panels = (n + PackedBF16.bWidth - 1) / PackedBF16.bWidth
        let parts = parallel && m * n * k >= parallelThreshold ? min(Threading.count, panels) : 1
        Threading.forEach(parts) { p in
            let lo = panels * p / parts, hi = panels * (p + 1) / parts
            unclip_bf16_gemm(Int32(m), Int32(n), Int32(k), a, b, c, ldc, accumulate ? 1 : 0, Int32(lo), Int32(hi))
        }
    }
}

extension Ops {
    /// `y = x·Wᵀ + b` with W packed as the right operand (``PackedBF16/bWidth`` panels of `[out, in]` rows):
    /// x `[…, in]` is rounded to bf16 into scratch, the product is summed in fp32.
    public static func linear(_ x: Tensor, packed w: PackedBF16, bias: Tensor?, into y: Tensor) {
        let inF = w.k, outF = w.rows
        precondition(x.shape.last == inF, "linear: input \(x.shape) does not end in \(inF)")
        let rows = x.count / inF
        precondition(y.count == rows * outF, "linear: output \(y.shape) is not [\(rows), \(outF)]")
        if let bias { for r in 0..<rows { (y.data + r * outF).update(from: bias.data, count: outF) } }
        ComputeContext.current.scratch.withLock { scratch in
            let words = unclip_bf16_panels_size(Int32(rows), Int32(inF), Int32(PackedBF16.aWidth))
            let a = packScratch(scratch, thread: 0, slot: 3, words: words)
            unclip_bf16_pack_rows(x.data, inF, Int32(rows), Int32(inF), Int32(PackedBF16.aWidth), a)
            GEMM.bf16(m: rows, n: outF, k: inF, a: a, b: w.data, c: y.data, ldc: outF, accumulate: bias != nil)
        }
    }

    /// A scratch slot used only for packed bf16 words.
    @inline(__always)
    static func packScratch(_ scratch: Scratch, thread: Int, slot: Int, words: Int) -> UnsafeMutablePointer<UInt32> {
        let p = scratch.buffer(thread: thread, slot: slot, count: words)
        return UnsafeMutableRawPointer(p).bindMemory(to: UInt32.self, capacity: words)
    }
}

extension Reference {
    /// fp32 → bf16 → fp32 (round to nearest even, denormals to zero), as the kernels round.
    public static func bf16Rounded(_ x: Float) -> Float { unclip_f32_from_bf16(unclip_bf16_from_f32(x)) }

    /// Naive bf16 GEMM: `C = (accumulate ? C : 0) + round(A)·round(B)`, A `[m][k]`, B `[k][n]`, Double sums.
    public static func bf16GEMM(m: Int, n: Int, k: Int, a: [Float], b: [Float], c: inout [Float], accumulate: Bool) {
        c.withUnsafeMutableBufferPointer { cp in
            unclip_bf16_gemm_reference(Int32(m), Int32(n), Int32(k), a, k, b, n, cp.baseAddress!, n, accumulate ? 1 : 0)
        }
    }
}

/// What a user asks for (`--precision`): a precision, or `auto` (the engine's choice for this CPU).
public enum PrecisionChoice: String, Sendable, CaseIterable, Codable {
    case fp32, bf16, auto

    /// The precision to run. `auto` picks fp32 (see ``autoPrecision``); `bf16` on a CPU without the bf16 kernels
    /// is an error naming what is missing.
    public func resolve() throws -> MatmulPrecision {
        switch self {
        case .fp32: return .fp32
        case .auto: return PrecisionChoice.autoPrecision
        case .bf16:
            guard MatmulPrecision.bf16Available else {
                let why = ProcessInfo.processInfo.environment["UNCLIP_BF16"] == "off"
                    ? "UNCLIP_BF16=off is set" : "this CPU has no AVX512-BF16 (CPU: \(Threading.hardware.features.names.joined(separator: " ")))"
                throw PrecisionError("--precision bf16 needs the bf16 kernels, but \(why); use --precision fp32")
            }
            return .bf16
        }
    }

    /// What `auto` runs on this CPU.
    public static var autoPrecision: MatmulPrecision { .fp32 }
}

/// A precision that cannot run here.
public struct PrecisionError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension MatmulPrecision {
    /// `vdpbf16ps` with register operands on every thread of the run: the machine's bf16 peak in GFLOP/s.
    public static func bf16PeakGFLOPs(iterations: Int = 20_000_000) -> Double {
        guard bf16Available else { return 0 }
        let threads = Threading.count
        let t0 = DispatchTime.now().uptimeNanoseconds
        Threading.forEach(threads) { _ in _ = unclip_bf16_peak_probe(iterations) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return Double(threads) * Double(iterations) * 12 * 64 / seconds / 1e9
    }
}

extension PackedBF16 {
    /// The right operand packed from a `[k][n]` fp32 matrix (leading dimension `ld`) into a new buffer of
    /// ``bWidth``-column panels; the caller deallocates it. (The conv path packs into scratch instead.)
    public static func columns(k: Int, n: Int, from src: UnsafePointer<Float>, ld: Int) -> UnsafeMutablePointer<UInt32> {
        precondition(MatmulPrecision.bf16Available, "bf16 packing needs AVX512-BF16")
        let words = max(unclip_bf16_panels_size(Int32(n), Int32(k), Int32(bWidth)), 16)
        let out = UnsafeMutablePointer<UInt32>.allocate(capacity: words)
        unclip_bf16_pack_cols(src, ld, Int32(k), Int32(n), out)
        return out
    }
}
