// The server's middleware, as Hummingbird 2's `RouterMiddleware`s: one error shape for everything (OpenAI's), the
// API key (`Authorization: Bearer`, as openai-python sends it), and an access log line per request that carries no
// image data, prompt or key.
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every thrown error into OpenAI's error body; a 404 on a known path with another method becomes 405.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = APIContext
    /// Paths the router serves and their method (`*` matches one segment).
    let routes: [(path: String, method: HTTPRequest.Method)]

    func handle(_ request: Request, context: APIContext,
                next: (Request, APIContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var api = APIError.from(error, method: request.method, path: request.uri.path)
            if api.status == .notFound, error is HTTPError {
                let allowed = routes.filter { Self.matches($0.path, request.uri.path) }.map(\.method)
                if !allowed.isEmpty, !allowed.contains(request.method) {
                    api = APIError(.methodNotAllowed, "Method \(request.method.rawValue) is not allowed for \(request.uri.path); use \(allowed.map(\.rawValue).joined(separator: ", ")).")
                    api.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                }
            }
            if api.status.code >= 500 && api.status != .serviceUnavailable {  // 503: shutting down, not a fault
                context.logger.error("internal error", metadata: ["error": "\(error)"])
            }
            return try api.response(from: request, context: context)
        }
    }

    static func matches(_ pattern: String, _ path: String) -> Bool {
        let p = pattern.split(separator: "/"), s = path.split(separator: "/")
        return p.count == s.count && zip(p, s).allSatisfy { $0 == "*" || $0 == $1 }
    }
}

/// Requires `Authorization: Bearer <key>` on `/v1/` routes when a key is configured (the picture URLs stay open:
/// their ids are the secret, as OpenAI's signed URLs are).
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let key: String

    func handle(_ request: Request, context: APIContext,
                next: (Request, APIContext) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/v1/"), !path.hasPrefix("/v1/images/files/") else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            throw Self.unauthorized("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", code: nil)
        }
        let prefix = "Bearer "
        let given = header.hasPrefix(prefix) ? String(header.dropFirst(prefix.count)) : ""
        guard Self.constantTimeEqual(given, key) else {
            throw Self.unauthorized("Incorrect API key provided. Check the key given to unclip-run serve (--api-key or UNCLIP_API_KEY).",
                                    code: "invalid_api_key")
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String, code: String?) -> APIError {
        var e = APIError(.unauthorized, message, code: code)
        e.headers[.wwwAuthenticate] = "Bearer"
        return e
    }

    /// Compares without an early exit, so the time taken does not tell how much of the key was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }
}

/// One line per request: method, route, status, milliseconds, images; never bodies, prompts or keys.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = APIContext
    /// Handlers report their image count in this header; the middleware removes it.
    static let imageCountHeader = HTTPField.Name("x-unclip-images")!

    func handle(_ request: Request, context: APIContext,
                next: (Request, APIContext) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        var response = try await next(request, context)
        let images = response.headers[Self.imageCountHeader] ?? "0"
        response.headers[Self.imageCountHeader] = nil
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        var route = request.uri.path
        if route.hasPrefix("/v1/images/files/") { route = "/v1/images/files/:id" }
        let streaming = response.headers[.contentType] == "text/event-stream"
        context.logger.info("\(request.method.rawValue) \(route) \(response.status.code) \(String(format: "%.1f", ms)) ms images=\(images)\(streaming ? " (stream started)" : "")")
        return response
    }
}
