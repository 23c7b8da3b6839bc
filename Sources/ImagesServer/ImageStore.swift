// The pictures behind `response_format: "url"`, as OpenAI's: unguessable addresses, gone 60 minutes after the picture
// was made. Kept in memory within a byte budget (the oldest go first when it is full).
import Foundation

/// PNGs served at `/v1/images/files/<id>.png` for a limited time.
public final class ImageStore: @unchecked Sendable {
    public let lifetime: TimeInterval
    public let maxBytes: Int
    private let lock = NSLock()
    private var entries: [String: (png: Data, expires: Date)] = [:]
    private var order: [String] = []
    private var bytes = 0

    public init(lifetime: TimeInterval = 3600, maxBytes: Int = 512 << 20) {
        self.lifetime = lifetime; self.maxBytes = maxBytes
    }

    /// Keeps `png` and returns its id: 128 random bits in hex (SystemRandomNumberGenerator reads the OS's CSPRNG).
    public func put(_ png: Data, now: Date = Date()) -> String {
        let id = Self.newID()
        lock.lock(); defer { lock.unlock() }
        purge(now)
        entries[id] = (png, now.addingTimeInterval(lifetime))
        order.append(id)
        bytes += png.count
        while bytes > maxBytes, let oldest = order.first {
            order.removeFirst()
            if let e = entries.removeValue(forKey: oldest) { bytes -= e.png.count }
        }
        return id
    }

    /// The PNG of `id`, if it exists and has not expired.
    public func get(_ id: String, now: Date = Date()) -> Data? {
        lock.lock(); defer { lock.unlock() }
        purge(now)
        return entries[id]?.png
    }

    /// A picture id: 128 random bits in hex from the OS's CSPRNG (also the shared queue's ids).
    public static func newID() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined()
    }

    /// Pictures kept and their bytes.
    public var usage: (count: Int, bytes: Int) { lock.lock(); defer { lock.unlock() }; return (entries.count, bytes) }

    /// Drops expired entries (they expire in insertion order).
    private func purge(_ now: Date) {
        while let oldest = order.first, let e = entries[oldest], e.expires <= now {
            order.removeFirst()
            entries.removeValue(forKey: oldest)
            bytes -= e.png.count
        }
        while let oldest = order.first, entries[oldest] == nil { order.removeFirst() }
    }
}
