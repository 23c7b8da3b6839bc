// Grow-only scratch memory per engine thread, so hot loops (im2col, attention scores) never allocate.
import Foundation

/// Reusable per-thread scratch buffers, one arena per ``ComputeContext``. An op takes the lock for its duration
/// (several callers may share a context, e.g. parallel tests on the standard one), then thread `p` of the op
/// uses slot `(p, k)` freely. The buffers are freed with the arena.
public final class Scratch: @unchecked Sendable {
    public init() {}

    deinit { for row in buffers { for b in row { free(b) } } }

    private let lock = NSLock()
    /// Guards the slot tables: threads of one op grow their own rows concurrently.
    private let tableLock = NSLock()
    private var buffers: [[UnsafeMutablePointer<Float>?]] = []
    private var sizes: [[Int]] = []

    /// Runs `body` with exclusive use of the arena.
    public func withLock<R>(_ body: (Scratch) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(self)
    }

    /// A buffer of at least `count` floats for thread `thread`, slot `slot`; contents undefined.
    /// Only call inside `withLock`; the threads of one op may call it concurrently, each for its own `thread`.
    public func buffer(thread: Int, slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        tableLock.lock(); defer { tableLock.unlock() }
        while buffers.count <= thread { buffers.append([]); sizes.append([]) }
        while buffers[thread].count <= slot { buffers[thread].append(nil); sizes[thread].append(0) }
        if sizes[thread][slot] < count {
            free(buffers[thread][slot])
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, max(count, 16) * 4) == 0, let raw else { fatalError("out of memory") }
            buffers[thread][slot] = raw.bindMemory(to: Float.self, capacity: count)
            sizes[thread][slot] = count
        }
        return buffers[thread][slot]!
    }

    /// Releases all buffers (e.g. between pipeline stages).
    public func release() {
        withLock { s in
            for row in s.buffers { for b in row { free(b) } }
            s.buffers = []; s.sizes = []
        }
    }
}
