// Helpers of the route tests: a server on the tiny-a fixture weights under HummingbirdTesting's router framework,
// request builders (JSON, multipart), PNGs made in memory, and OpenAI error-body checks.
import Foundation
import Hummingbird
import HummingbirdTesting
import ImageIO
import ImagesServer
import Logging
import Pipeline
import XCTest

enum ServerFixtures {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/tiny-a/model.safetensors").path

    /// A few steps per stage: the routes are under test, not the pictures.
    static let fastSteps: [String: Any] = ["prior_steps": 2, "decoder_steps": 2, "super_res_steps": 2]

    static func service(_ configure: (inout ServerConfiguration) -> Void = { _ in }, ready: Bool = true) throws -> ImagesService {
        var config = ServerConfiguration()
        configure(&config)
        let engine = try UnCLIPEngine(path: modelPath, configuration: .init(threads: 2, maxConcurrentRuns: config.maxConcurrent))
        let service = ImagesService(engine: engine, configuration: config)
        service.isReady = ready
        return service
    }

    /// Runs `body` against the service's router.
    static func withRouter<T>(_ service: ImagesService, _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        var logger = Logger(label: "unclip.test")
        logger.logLevel = .warning
        return try await service.application(logger: logger).test(.router, body)
    }

    static func json(_ object: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }

    static let boundary = "unclip-test-boundary-7d1f"

    /// A multipart/form-data body: text fields, then files (as the openai client sends them: name, filename, type).
    static func form(_ fields: [(String, String)], files: [(String, Data)] = []) -> ByteBuffer {
        var body = Data()
        for (name, value) in fields {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        for (name, data) in files {
            body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"image\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
            body += data + Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return ByteBuffer(bytes: body)
    }

    static let formHeaders: HTTPFields = [.contentType: "multipart/form-data; boundary=\(boundary)"]
    /// The boundary of the fuzz corpora's forms.
    static let formHeadersB: HTTPFields = [.contentType: "multipart/form-data; boundary=B"]
    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    /// An RGBA PNG: a gradient, alpha 0 where `transparent(x, y)`.
    static func png(width: Int, height: Int, transparent: (Int, Int) -> Bool = { _, _ in false }) -> Data {
        var pixels = [UInt8]()
        for y in 0..<height { for x in 0..<width {
            pixels += [UInt8(x * 255 / max(width - 1, 1)), UInt8(y * 255 / max(height - 1, 1)), 90, transparent(x, y) ? 0 : 255]
        } }
        return try! PNG.encode(Image8(width: width, height: height, channels: 4, pixels: pixels))
    }

    /// The `error` object of an OpenAI error body.
    static func error(_ response: TestResponse, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
        let error = try XCTUnwrap(object?["error"] as? [String: Any], "no error object in \(String(buffer: response.body))", file: file, line: line)
        XCTAssertEqual(Set(error.keys), ["message", "type", "param", "code"], file: file, line: line)
        XCTAssertFalse((error["message"] as? String ?? "").isEmpty, file: file, line: line)
        return error
    }

    /// Checks status, type and param of an error response.
    static func expectError(_ response: TestResponse, _ status: HTTPResponse.Status, param: String?, code: String? = nil,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(response.status, status, String(buffer: response.body), file: file, line: line)
        let error = try Self.error(response, file: file, line: line)
        XCTAssertEqual(error["type"] as? String, status.code >= 500 ? "server_error" : "invalid_request_error", file: file, line: line)
        XCTAssertEqual(error["param"] as? String, param, "\(error)", file: file, line: line)
        if let code { XCTAssertEqual(error["code"] as? String, code, file: file, line: line) }
    }

    /// The `data` items of an images response.
    static func data(_ response: TestResponse, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        XCTAssertEqual(response.status, .ok, String(buffer: response.body), file: file, line: line)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
        XCTAssertNotNil(object["created"] as? Int, file: file, line: line)
        return try XCTUnwrap(object["data"] as? [[String: Any]], file: file, line: line)
    }
}
