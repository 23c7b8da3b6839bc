// OpenAI's error bodies (openai-openapi `ErrorResponse`: {"error": {"message", "type", "param", "code"}}) and the
// statuses openai-python maps to its exception classes (`_client.py::_make_status_error`): every error the server
// sends, whatever raised it, goes out in this shape.
import Foundation
import Hummingbird
import NIOCore
import Pipeline

/// An error as the OpenAI API sends it.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    /// `invalid_request_error` (4xx) or `server_error` (5xx).
    public let type: String
    /// The request field at fault, if one is.
    public let param: String?
    public let code: String?
    /// Extra response headers (`Retry-After`, `Allow`, `WWW-Authenticate`).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, type: String? = nil, param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message
        self.type = type ?? (status.code >= 500 ? "server_error" : "invalid_request_error")
        self.param = param; self.code = code
    }

    public var description: String { "\(status.code) \(type)\(param.map { " [\($0)]" } ?? ""): \(message)" }

    /// The body as an object: `{"error": {...}}` (also an `error` event of a stream).
    public var object: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }

    /// The JSON body.
    public var body: Data { (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data() }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: the errors the server sends

    /// A field the request got wrong (400 with the field in `param`).
    public static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, message, param: field)
    }

    /// 500 with no internals in the message (they go to the log).
    public static let internalError = APIError(.internalServerError,
                                               "The server had an error while processing your request. Sorry about that!")

    /// The error sent for anything a handler or the router threw.
    public static func from(_ error: any Error, method: HTTPRequest.Method, path: String) -> APIError {
        switch error {
        case let e as APIError:
            return e
        case let e as RequestError:
            return invalid(e.field.rawValue, e.description)
        case is ContentPolicyViolation:
            return APIError(.badRequest, ContentPolicyViolation.message, code: "content_policy_violation")
        case let e as PipelineError:
            switch e {
            case .missingComponent(let m), .invalidRequest(let m): return APIError(.badRequest, m)
            // nginx's 499: the client closed the connection; nobody reads this, the access log shows it.
            case .cancelled: return APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"),
                                             "The request was cancelled before it completed.")
            case .invalidWeights: return internalError
            }
        case is NIOTooManyBytesError:
            return APIError(.contentTooLarge, "The request body is larger than the server accepts (\(APIContext.maxBody >> 20) MiB).")
        case let e as HTTPError:
            switch e.status {
            case .notFound: return APIError(.notFound, "Invalid URL (\(method.rawValue) \(path))")
            case .contentTooLarge: return APIError(.contentTooLarge, "The request body is larger than the server accepts.")
            case .unsupportedMediaType: return APIError(.unsupportedMediaType, e.body ?? "Unsupported content type.")
            case let s where s.code < 500: return APIError(s, e.body ?? s.reasonPhrase)
            default: return internalError
            }
        default:
            return internalError
        }
    }
}
