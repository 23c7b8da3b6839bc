// unclip threading: each run's thread budget (its ComputeContext) for the engine's own parallel loops; OpenBLAS
// single-threaded per call, never nested inside ours.
import BLASTune
import CBLAS
import Dispatch
import Foundation

/// The engine's threading policy.
///
/// A run's thread budget is its ``ComputeContext/threads`` (`--threads`, `UNCLIP_THREADS`, or an engine's share).
/// OpenBLAS itself is kept single-threaded: every large GEMM is split by the engine across the run's own threads
/// (by output columns or rows), and every call to OpenBLAS happens on exactly one engine thread. So OpenBLAS
/// threads never nest inside engine threads, and no OpenBLAS worker spins between calls.
public enum Threading {
    /// The thread budget of the calling run.
    public static var count: Int { ComputeContext.current.threads }

    /// `UNCLIP_BLAS_CORE`: `auto` (default: the OpenBLAS core chosen from the CPU's features — SkylakeX with
    /// AVX-512, Haswell with AVX2 — whatever OpenBLAS 0.3.21 guessed or an inherited `OPENBLAS_CORETYPE`
    /// forced), `inherit`, or a core name.
    public static let blasPolicy = ProcessInfo.processInfo.environment["UNCLIP_BLAS_CORE"] ?? "auto"

    /// The CPU and the kernels in use; the first use chooses OpenBLAS's core and makes OpenBLAS single-threaded.
    public static let hardware: Hardware = {
        let h = Hardware.select(policy: blasPolicy)
        openblas_set_num_threads(1)
        if let w = h.warning { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        return h
    }()

    /// Chooses OpenBLAS's core and threading once per process (every ``ComputeContext`` does this first).
    static func setUp() { _ = hardware }

    /// The OpenBLAS kernel family in use (e.g. "SkylakeX").
    public static var blasCore: String { hardware.blasCore }

    /// `UNCLIP_THREADS` if set, otherwise the number of active processors.
    public static func defaultCount() -> Int {
        if let s = ProcessInfo.processInfo.environment["UNCLIP_THREADS"], let n = Int(s), n > 0 { return n }
        return ProcessInfo.processInfo.activeProcessorCount
    }

    /// Runs `body(i)` for `i` in `0..<n` on the calling run's threads (`n` is usually `count`); the workers see
    /// the caller's ``ComputeContext``.
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        let context = ComputeContext.current
        if n <= 1 || context.threads == 1 {
            for i in 0..<n { body(i) }
            return
        }
        // At most `threads` workers (the caller is one of them) take the items in turn: the run never goes wider.
        let workers = min(n, context.threads)
        context.gauge?.enter(workers - 1)
        defer { context.gauge?.leave(workers - 1) }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            context.run { var i = w; while i < n { body(i); i += workers } }
        }
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
