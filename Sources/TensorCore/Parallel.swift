// unclip threading: one knob for the engine's own parallel loops and OpenBLAS, never nested.
import BLASTune
import CBLAS
import Dispatch
import Foundation

/// The engine's threading policy.
///
/// One knob (`--threads`, `UNCLIP_THREADS`) sets the number of engine threads. OpenBLAS itself is
/// kept single-threaded: every large GEMM is split by the engine across its own threads (by output
/// columns or rows), and every call to OpenBLAS happens on exactly one engine thread. So OpenBLAS
/// threads never nest inside engine threads, and no OpenBLAS worker spins between calls.
public enum Threading {
    nonisolated(unsafe) private static var _count: Int = defaultCount()

    /// The number of engine threads (≥ 1).
    public static var count: Int { _count }

    /// Sets the number of engine threads and pins OpenBLAS to one thread per caller. The first call
    /// also chooses OpenBLAS's kernels from the CPU's features (`hardware`).
    public static func configure(threads: Int) {
        _ = blasSetup
        _count = max(1, threads)
        openblas_set_num_threads(1)
    }

    /// `UNCLIP_BLAS_CORE`: `auto` (default: the OpenBLAS core chosen from the CPU's features — SkylakeX with
    /// AVX-512, Haswell with AVX2 — whatever OpenBLAS 0.3.21 guessed or an inherited `OPENBLAS_CORETYPE`
    /// forced), `inherit`, or a core name.
    public static let blasPolicy = ProcessInfo.processInfo.environment["UNCLIP_BLAS_CORE"] ?? "auto"

    /// The CPU and the kernels in use; the first use chooses OpenBLAS's core.
    public static let hardware: Hardware = {
        let h = Hardware.select(policy: blasPolicy)
        if let w = h.warning { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        return h
    }()

    private static var blasSetup: Void { _ = hardware }

    /// The OpenBLAS kernel family in use (e.g. "SkylakeX").
    public static var blasCore: String { hardware.blasCore }

    /// `UNCLIP_THREADS` if set, otherwise the number of active processors.
    public static func defaultCount() -> Int {
        if let s = ProcessInfo.processInfo.environment["UNCLIP_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    private static let configured: Void = { configure(threads: _count) }()

    /// Runs `body(i)` for `i` in `0..<n`, spread over the engine threads. `n` is usually `count`.
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        _ = configured
        if n <= 1 || _count == 1 {
            for i in 0..<n { body(i) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: n, execute: body)
    }

    /// Splits `0..<total` into at most `count` contiguous ranges of at least `grain` items and runs them in parallel.
    public static func parallelRanges(_ total: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard total > 0 else { return }
        let parts = max(1, min(count, total / max(grain, 1)))
        if parts == 1 { body(0..<total); return }
        forEach(parts) { p in
            let lo = total * p / parts, hi = total * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}
