// The request context of the images API (Hummingbird 2's `RequestContext`, as its examples extend it): a raised
// upload limit for a 4 MB picture plus a 4 MB mask, and the connection, so a job can learn that its client went away.
import Foundation
import Hummingbird
import NIOCore

/// Per-request context of the server's routes.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (a test channel under HummingbirdTesting's router framework).
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// An edit's picture and mask (each < 4 MB) and its fields; larger bodies get 413.
    public var maxUploadSize: Int { APIContext.maxBody }
    public static let maxBody = 9 << 20

    /// Calls `gone` if the client closes the connection (or its sending side) before `body` returns; nothing after.
    func whileConnected<T>(onGone gone: @escaping @Sendable () -> Void, _ body: () async throws -> T) async rethrows -> T {
        let stop = await watchPeer(gone)
        defer { stop() }
        return try await body()
    }

    /// Calls `gone` if the client goes away, until the returned function is called.
    func watchPeer(_ gone: @escaping @Sendable () -> Void) async -> @Sendable () -> Void {
        guard let channel, let watch = try? await channel.pipeline.handler(type: PeerWatch.self).get() else { return {} }
        let token = watch.add(gone)
        return { watch.remove(token) }
    }
}

/// Watches a connection for its client going away: the peer's FIN (`inputClosed`, as Hummingbird allows half-closure)
/// or the channel going inactive. Requests register a callback while their job runs.
final class PeerWatch: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = Never
    private let lock = NSLock()
    private var gone = false
    private var next = 0
    private var callbacks: [Int: @Sendable () -> Void] = [:]

    /// Registers `f`; it runs at once if the client is already gone.
    func add(_ f: @escaping @Sendable () -> Void) -> Int {
        let (token, now): (Int, Bool) = lock.withLock {
            next += 1
            if !gone { callbacks[next] = f }
            return (next, gone)
        }
        if now { f() }
        return token
    }

    func remove(_ token: Int) { lock.withLock { _ = callbacks.removeValue(forKey: token) } }

    private func peerGone() {
        let fs: [@Sendable () -> Void] = lock.withLock {
            gone = true
            defer { callbacks = [:] }
            return Array(callbacks.values)
        }
        for f in fs { f() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { peerGone() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peerGone()
        context.fireChannelInactive()
    }
}
