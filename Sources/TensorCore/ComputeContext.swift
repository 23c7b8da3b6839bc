// Per-run compute state, in the spirit of PyTorch's per-thread intra-op settings (at::set_num_threads is thread-local)
// and its caching allocator: what a run needs while it computes, owned by that run rather than by the process.
import Foundation

/// The compute state of one run (or one worker): its thread budget, its scratch arena, its tensor pool and its
/// counters. Two runs with their own contexts share nothing mutable, so they may compute at the same time.
///
/// Ops find the context of the code that calls them through ``current``, a task-local value: bind one with
/// ``run(_:)`` around a run. ``Threading/forEach(_:_:)`` carries the binding into its worker threads. Code that
/// binds none uses ``standard``, a context with the default thread count (`UNCLIP_THREADS` or all cores).
///
/// ```swift
/// let context = ComputeContext(threads: 1)
/// let image = try context.run { try pipeline.generate(request) }
/// print(context.counters.flops)
/// ```
public final class ComputeContext: @unchecked Sendable {
    /// Engine threads this run may use at once (≥ 1): its parallel loops never run wider.
    public let threads: Int
    /// Grow-only scratch buffers (im2col, attention scores); freed with the context.
    public let scratch: Scratch
    /// Activation storage recycled across denoising steps (``TensorPool/recycling(_:)``).
    public let pool: TensorPool
    /// Target im2col chunk size in floats per thread (default 512 Ki = 2 MB, one L2; `UNCLIP_CONV_CHUNK_FLOATS`).
    public let convChunkFloats: Int
    /// Output tile of the Winograd path for fp32 3×3 stride-1 convolutions on large planes: 4 (F(4×4,3×3)),
    /// 2 (F(2×2,3×3)) or 0 (off: im2col + GEMM everywhere). `UNCLIP_WINOGRAD=4|2|off`.
    public let winograd: Int
    /// Work done under this context (GEMM FLOPs), for benchmarks.
    public let counters = ComputeCounters()
    /// Where the extra threads of this context's parallel loops are counted (an engine's gauge across its runs).
    public let gauge: ThreadGauge?

    /// - Parameters:
    ///   - threads: the thread budget (clamped to ≥ 1).
    ///   - poolLimitBytes: the most bytes the tensor pool keeps (`UNCLIP_TENSOR_POOL_MB`, default 4096 MB).
    ///   - convChunkFloats: im2col chunk size per thread, ≥ 4096 floats.
    ///   - winograd: the Winograd output tile (4, 2 or 0 = off; see ``winograd``).
    ///   - gauge: counts the threads this context's parallel loops add to the caller's.
    public init(threads: Int, poolLimitBytes: Int = TensorPool.environmentLimit(),
                convChunkFloats: Int = ComputeContext.environmentConvChunk(),
                winograd: Int = ComputeContext.environmentWinograd(), gauge: ThreadGauge? = nil) {
        precondition([0, 2, 4].contains(winograd), "Winograd output tile must be 0, 2 or 4, got \(winograd)")
        Threading.setUp()
        self.threads = max(1, threads)
        self.scratch = Scratch()
        self.pool = TensorPool(limitBytes: poolLimitBytes)
        self.convChunkFloats = max(4096, convChunkFloats)
        self.winograd = winograd
        self.gauge = gauge
    }

    /// The context of the calling code.
    @TaskLocal public static var current: ComputeContext = standard

    /// The context of code that binds none: ``Threading/defaultCount()`` threads. Its arena and pool are shared
    /// by every such caller (they lock), so concurrent runs should each bind their own context.
    public static let standard = ComputeContext(threads: Threading.defaultCount())

    /// Runs `body` with this context as ``current``.
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        try ComputeContext.$current.withValue(self) { try body() }
    }

    /// `UNCLIP_CONV_CHUNK_FLOATS` if set (tuning runs), else 512 Ki floats.
    public static func environmentConvChunk() -> Int {
        ProcessInfo.processInfo.environment["UNCLIP_CONV_CHUNK_FLOATS"].flatMap { Int($0) } ?? 512 << 10
    }

    /// `UNCLIP_WINOGRAD`: `off` (or `0`) → 0, `2` → 2, `4` or unset → ``defaultWinograd``. Front ends refuse other
    /// values first (``winogradSettingError()``); here they fall back to the default.
    public static func environmentWinograd() -> Int {
        switch ProcessInfo.processInfo.environment["UNCLIP_WINOGRAD"]?.lowercased() {
        case "off", "0": return 0
        case "2": return 2
        default: return defaultWinograd
        }
    }

    /// The error to report when `UNCLIP_WINOGRAD` holds something other than `4`, `2`, `off` or `0`; nil when fine.
    public static func winogradSettingError() -> String? {
        guard let v = ProcessInfo.processInfo.environment["UNCLIP_WINOGRAD"],
              !["4", "2", "off", "0"].contains(v.lowercased()) else { return nil }
        return "UNCLIP_WINOGRAD must be 4, 2 or off, got '\(v)'"
    }

    /// The Winograd tile a run uses unless told otherwise.
    public static let defaultWinograd = 4
}

/// Counters of one ``ComputeContext``; safe to update from its worker threads.
public final class ComputeCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var gemmFlops: Int64 = 0

    /// Floating-point operations (2·m·n·k) issued to OpenBLAS since the last reset.
    public var flops: Int64 { lock.lock(); defer { lock.unlock() }; return gemmFlops }
    public func reset() { lock.lock(); gemmFlops = 0; lock.unlock() }
    func addFlops(_ n: Int64) { lock.lock(); gemmFlops += n; lock.unlock() }
}

/// Threads busy at once, and the most so far: a run counts its own thread (``enter(_:)`` when it starts) and
/// ``Threading/forEach(_:_:)`` adds the workers it runs beside the caller.
public final class ThreadGauge: @unchecked Sendable {
    private let lock = NSLock()
    private var busy = 0, most = 0

    public init() {}

    public func enter(_ n: Int = 1) { lock.lock(); busy += n; most = max(most, busy); lock.unlock() }
    public func leave(_ n: Int = 1) { lock.lock(); busy -= n; lock.unlock() }
    /// Threads busy now.
    public var current: Int { lock.lock(); defer { lock.unlock() }; return busy }
    /// The most threads busy at once since the gauge was made.
    public var peak: Int { lock.lock(); defer { lock.unlock() }; return most }
}
