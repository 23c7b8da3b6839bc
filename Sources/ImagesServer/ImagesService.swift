// `unclip-run serve`: the OpenAI images API on a resident engine, as a Hummingbird 2 application (router, middleware,
// services run by swift-service-lifecycle with graceful shutdown on SIGTERM/SIGINT).
import Foundation
import Hummingbird
import Logging
import NIOCore
import Pipeline
import ServiceLifecycle

/// How the server is set up.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (default: loopback only; nothing outside the machine reaches the server unless asked).
    public var host = "127.0.0.1"
    public var port = 8080
    /// Scheme, host and path prefix of the returned picture URLs (behind a proxy); default: the request's Host.
    public var publicURL: String?
    /// When set, `/v1/` routes need `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Jobs computing at once (each with `threads / maxConcurrent` threads).
    public var maxConcurrent = 1
    /// Jobs waiting for a slot; beyond, 429.
    public var maxQueue = 8
    public var policy = PromptPolicy.open
    /// Log refused prompts' text (off: only which rule refused).
    public var logPrompts = false
    public var limits = ImagesAPILimits.openAI
    /// How long a picture URL works.
    public var imageLifetime: TimeInterval = 3600

    public init() {}
}

/// The server: engine (which checks requests), backend (which runs them), metrics and routes.
public final class ImagesService: @unchecked Sendable {
    public let engine: UnCLIPEngine
    public let configuration: ServerConfiguration
    public let backend: any ImagesBackend
    public let metrics: ServerMetrics
    /// The in-process queue (nil when jobs go to a shared queue).
    public var queue: JobQueue? { (backend as? LocalBackend)?.queue }
    /// Set once the models are loaded; `/health` answers 503 before.
    private let readyLock = NSLock()
    private var _ready = false
    public var isReady: Bool {
        get { readyLock.lock(); defer { readyLock.unlock() }; return _ready }
        set { readyLock.lock(); _ready = newValue; readyLock.unlock() }
    }

    /// The routes the router serves, for 405 answers.
    static let routes: [(path: String, method: HTTPRequest.Method)] = [
        ("/v1/images/generations", .post), ("/v1/images/edits", .post), ("/v1/images/variations", .post),
        ("/v1/models", .get), ("/v1/models/*", .get), ("/v1/images/files/*", .get), ("/health", .get), ("/metrics", .get),
    ] + PlaygroundAssets.files.keys.sorted().map { ($0, .get) }

    /// A server that runs its jobs itself (``LocalBackend``).
    public convenience init(engine: UnCLIPEngine, configuration: ServerConfiguration) {
        let metrics = ServerMetrics()
        let backend = LocalBackend(engine: engine, queue: JobQueue(maxConcurrent: configuration.maxConcurrent, maxQueue: configuration.maxQueue),
                                   store: ImageStore(lifetime: configuration.imageLifetime), metrics: metrics)
        self.init(engine: engine, configuration: configuration, backend: backend, metrics: metrics)
    }

    /// A server whose jobs run in `backend`; `engine` checks requests (and names the model).
    public init(engine: UnCLIPEngine, configuration: ServerConfiguration, backend: any ImagesBackend, metrics: ServerMetrics) {
        self.engine = engine
        self.configuration = configuration
        self.backend = backend
        self.metrics = metrics
    }

    /// The router with every route and middleware.
    public func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.add(middleware: AccessLogMiddleware())
        router.add(middleware: ErrorMiddleware(routes: Self.routes))
        if let key = configuration.apiKey { router.add(middleware: APIKeyMiddleware(key: key)) }
        router.post("/v1/images/generations") { request, context in try await self.images(.generation, request, context) }
        router.post("/v1/images/edits") { request, context in try await self.images(.edit, request, context) }
        router.post("/v1/images/variations") { request, context in try await self.images(.variation, request, context) }
        router.get("/v1/models") { _, _ in try Self.json(["object": "list", "data": self.models()]) }
        router.get("/v1/models/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let model = self.models().first(where: { $0["id"] as? String == id }) else {
                throw APIError(.notFound, "The model '\(id)' does not exist", param: "model", code: "model_not_found")
            }
            return try Self.json(model)
        }
        router.get("/v1/images/files/:file") { _, context in
            let file = context.parameters.get("file") ?? ""
            guard file.hasSuffix(".png"), let png = try await self.backend.file(String(file.dropLast(4))) else {
                throw APIError(.notFound, "This image does not exist or has expired (picture URLs work for \(Self.duration(self.configuration.imageLifetime))).")
            }
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "private, max-age=3600"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: png)))
        }
        for (route, asset) in PlaygroundAssets.files {
            router.get(RouterPath(stringLiteral: route)) { _, _ in
                Response(status: .ok, headers: [.contentType: asset.contentType, .cacheControl: "no-cache"],
                         body: ResponseBody(byteBuffer: ByteBuffer(string: asset.text + "\n")))
            }
        }
        router.get("/health") { _, _ in
            let (ok, fields) = await self.backend.health()
            let ready = self.isReady
            var body: [String: Any] = ["status": !ready ? "loading" : ok ? "ok" : "unavailable", "model": self.engine.modelName,
                                       "api_key_required": self.configuration.apiKey != nil]
            for (k, v) in fields { body[k] = v }
            return try Self.json(body, status: ready && ok ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            _ = await self.backend.health()               // a shared queue refreshes its depth and state gauges
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.exposition())))
        }
        return router
    }

    /// "60 minutes", "90 seconds".
    static func duration(_ seconds: TimeInterval) -> String {
        seconds >= 120 ? "\(Int(seconds / 60)) minutes" : "\(Int(seconds)) seconds"
    }

    /// `GET /v1/models`: `dall-e-2` (what OpenAI code asks for) and the weights' own name, the same model.
    func models() -> [[String: Any]] {
        let created = Int((try? FileManager.default.attributesOfItem(atPath: engine.weights.file.path)[.modificationDate] as? Date)??.timeIntervalSince1970 ?? 0)
        return ["dall-e-2", engine.modelName].map { ["id": $0, "object": "model", "created": created, "owned_by": "unclip"] }
    }

    /// The application: HTTP/1 with the client-gone watch on every connection, the queue's shutdown service.
    public func application(logger: Logger, extraServices: [any Service] = [], onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(router: router(), server: .http1(configuration: .init(additionalChannelHandlers: [PeerWatch()])),
                    configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "unclip"),
                    services: [QueueShutdown(backend: backend)] + extraServices, onServerRunning: onServerRunning, logger: logger)
    }
}

/// On graceful shutdown (SIGTERM), stops the backend taking jobs (the in-process queue also cancels the waiting ones);
/// running jobs finish and their responses go out before the server exits.
struct QueueShutdown: Service {
    let backend: any ImagesBackend
    func run() async throws {
        try? await gracefulShutdown()
        backend.shutDown()
    }
}
