// Where the shared job queue lives and how it behaves: a `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` URL (libpq's
// connection URI, as `psql` takes it) turned into postgres-nio's `PostgresClient.Configuration`, and the queue's
// timing (leases, retries, polls, picture lifetime).
import Foundation
import PostgresNIO

/// A shared queue's address and settings.
public struct QueueConfiguration: Sendable {
    public let host: String
    public let port: Int
    public let user: String
    public let password: String?
    public let database: String
    /// A worker's hold on a job; renewed every third of it while the job runs, taken over by another worker when it
    /// expires (its worker died or lost the database).
    public var leaseSeconds = 30.0
    /// Runs of a job before it is marked failed (lost leases and engine errors both count).
    public var maxAttempts = 3
    /// How often waiting sides look at the tables when no notification came (LISTEN/NOTIFY is the fast path).
    public var pollSeconds = 1.0
    /// How long picture URLs (and finished jobs) are kept.
    public var imageLifetime: TimeInterval = 3600
    /// How long an API call to the database may take before the request gets 503.
    public var requestTimeoutSeconds = 5.0
    /// After SIGTERM, how long an API node's waiting requests wait for their jobs before they are withdrawn (503).
    public var drainSeconds = 120.0

    /// Parses `postgres://` or `postgresql://` URLs; the password may also come from PGPASSWORD (as libpq reads it).
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme) else {
            throw QueueError.badURL("'\(url)' is not a postgres://USER@HOST:PORT/DB URL")
        }
        guard let host = components.host, !host.isEmpty else { throw QueueError.badURL("'\(url)' names no host") }
        guard let user = components.user, !user.isEmpty else { throw QueueError.badURL("'\(url)' names no user (postgres://USER@HOST/DB)") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw QueueError.badURL("'\(url)' names no database (postgres://USER@HOST/DB)") }
        if let port = components.port, !(1...65535).contains(port) { throw QueueError.badURL("port \(port) is out of range") }
        if let items = components.queryItems, let item = items.first(where: { $0.name != "sslmode" || !["disable", "prefer", "allow"].contains($0.value ?? "") }) {
            throw QueueError.badURL("the URL parameter '\(item.name)=\(item.value ?? "")' is not supported (only sslmode=disable)")
        }
        self.host = host; self.port = components.port ?? 5432; self.user = user
        self.password = components.password ?? environment["PGPASSWORD"]
        self.database = database
    }

    /// The URL without its password, for logs.
    public var displayName: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// postgres-nio's client configuration (no TLS: the queue is on a private network or this machine).
    public var client: PostgresClient.Configuration {
        var c = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        c.options.connectTimeout = .seconds(5)
        c.options.keepAliveBehavior = .init(frequency: .seconds(15))
        return c
    }
}

/// Errors of the shared queue.
public enum QueueError: Error, CustomStringConvertible {
    case badURL(String)
    /// The database did not answer in time or refused the connection.
    case unavailable(String)
    /// The database's schema is newer than this program.
    case schema(String)

    public var description: String {
        switch self {
        case .badURL(let m): return "--queue: \(m)"
        case .unavailable(let m): return "the job queue (PostgreSQL) is unavailable: \(m)"
        case .schema(let m): return "the job queue's schema: \(m)"
        }
    }
}

/// Runs `body`, or throws ``QueueError/unavailable(_:)`` after `seconds`. The body runs in a task of its own that is
/// cancelled and left behind at the deadline (postgres-nio's queries do not all stop on cancellation: a database that
/// stops answering without closing its connections would otherwise hold the caller until TCP gives up).
func withDeadline<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            once.set(continuation)
            let work = Task {
                do { once.resume(.success(try await body())) } catch let e as QueueError { once.resume(.failure(e)) } catch is CancellationError {
                    once.resume(.failure(CancellationError()))
                } catch {
                    once.resume(.failure(QueueError.unavailable("\(what): \(String(reflecting: error).prefix(300))")))
                }
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                if once.resume(.failure(QueueError.unavailable("no answer within \(seconds) s (\(what))"))) { work.cancel() }
            }
        }
    } onCancel: {
        once.resume(.failure(CancellationError()))
    }
}

/// A continuation resumed by whichever result comes first.
private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?
    private var early: Result<T, any Error>?
    private var done = false

    func set(_ c: CheckedContinuation<T, any Error>) {
        lock.lock()
        if let early { lock.unlock(); c.resume(with: early); return }
        continuation = c
        lock.unlock()
    }

    /// True if this result was the first.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        lock.lock()
        guard !done else { lock.unlock(); return false }
        done = true
        guard let c = continuation else { early = result; lock.unlock(); return true }
        continuation = nil
        lock.unlock()
        c.resume(with: result)
        return true
    }
}
