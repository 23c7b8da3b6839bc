// Storage recycling for tensors across denoising steps, in the spirit of PyTorch's CPU caching allocator
// (c10/core/CPUCachingAllocator.h: free blocks kept by size for the next same-size request).
import Foundation

/// Recycles tensor storage while a denoising loop runs.
///
/// Every step of a loop allocates the same activation shapes, so inside ``recycling(_:)`` a freed tensor's
/// buffer is kept (keyed by its exact element count) and handed to the next tensor of that size instead of
/// going back to the C allocator, which returns large blocks to the kernel (munmap) and pays page faults and
/// zeroing for each new one. When the outermost `recycling` scope ends the pool is emptied, so tensors freed
/// outside a loop (weights, results) are released as usual and memory between stages stays at its minimum.
/// Buffers under ``minimumCount`` floats are never pooled; the pool holds at most ``limitBytes``
/// (`UNCLIP_TENSOR_POOL_MB`, default 4096; 0 disables pooling).
///
/// Each ``ComputeContext`` has its own pool, so one run's scope never keeps another run's buffers.
public final class TensorPool: @unchecked Sendable {
    /// Buffers smaller than this (in floats) go straight back to the allocator.
    public static let minimumCount = 1 << 14

    /// The most bytes kept at once.
    public let limitBytes: Int

    private let lock = NSLock()
    private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var depth = 0
    private var held = 0
    private var hitCount = 0
    private var missCount = 0

    public init(limitBytes: Int) { self.limitBytes = max(0, limitBytes) }

    /// `UNCLIP_TENSOR_POOL_MB` in bytes (default 4096 MB).
    public static func environmentLimit() -> Int {
        let mb = ProcessInfo.processInfo.environment["UNCLIP_TENSOR_POOL_MB"].flatMap { Int($0) } ?? 4096
        return max(0, mb) << 20
    }

    /// Runs `body` with recycling on; the pool is emptied when the outermost scope ends.
    public func recycling<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock(); depth += 1; lock.unlock()
        defer {
            lock.lock()
            depth -= 1
            let drained = depth == 0 ? takeAllLocked() : []
            lock.unlock()
            for p in drained { Foundation.free(p) }
        }
        return try body()
    }

    /// Bytes currently kept, and how many requests were served from the pool / fell through to malloc.
    public var statistics: (bytesHeld: Int, hits: Int, misses: Int) {
        lock.lock(); defer { lock.unlock() }
        return (held, hitCount, missCount)
    }

    /// A kept buffer of exactly `count` floats, if any (only while recycling).
    func take(_ count: Int) -> UnsafeMutablePointer<Float>? {
        guard count >= Self.minimumCount else { return nil }
        lock.lock(); defer { lock.unlock() }
        guard depth > 0 else { return nil }
        if let p = free[count]?.popLast() {
            held -= count * 4
            hitCount += 1
            return p
        }
        missCount += 1
        return nil
    }

    /// Keeps `pointer` (of `count` floats) for reuse if recycling is on and it fits; otherwise frees it.
    func give(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        if count >= Self.minimumCount {
            lock.lock()
            if depth > 0 && held + count * 4 <= limitBytes {
                free[count, default: []].append(pointer)
                held += count * 4
                lock.unlock()
                return
            }
            lock.unlock()
        }
        Foundation.free(pointer)
    }

    private func takeAllLocked() -> [UnsafeMutablePointer<Float>] {
        let all = free.values.flatMap { $0 }
        free = [:]
        held = 0
        return all
    }
}
