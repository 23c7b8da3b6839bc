// Every bad request the API names gets OpenAI's error body with its status, type and param (and never reaches the
// engine): fields, types, files, sizes, bodies, routes, methods, the API key and the moderation policy.
import Foundation
import Hummingbird
import HummingbirdTesting
import ImagesServer
import Pipeline
import XCTest

final class APIErrorTests: XCTestCase {
    typealias F = ServerFixtures

    func testGenerationFieldErrorsName400Param() async throws {
        let service = try F.service()
        let cases: [([String: Any], String)] = [
            (["size": "300x300"], "size"), (["size": "256"], "size"),
            (["n": 0], "n"), (["n": 11], "n"), (["n": "two"], "n"), (["n": 1.5], "n"), (["n": true], "n"),
            (["prompt": String(repeating: "a", count: 1001)], "prompt"), (["prompt": 3], "prompt"), (["prompt": "  "], "prompt"),
            (["response_format": "jpeg"], "response_format"), (["model": "dall-e-3"], "model"),
            (["stream": "yes"], "stream"), (["partial_images": 2], "partial_images"),
            (["stream": true, "partial_images": 4], "partial_images"), (["seed": -1], "seed"), (["seed": "x"], "seed"),
            (["decoder_steps": 0], "decoder_steps"), (["prior_steps": 1001], "prior_steps"),
            (["decoder_guidance_scale": -1], "decoder_guidance_scale"), (["decoder_scheduler": "euler"], "decoder_scheduler"),
            (["quality": "hd"], "quality"), (["style": "vivid"], "style"), (["frobnicate": 1], "frobnicate"),
            (["mask_blur": 2], "mask_blur"),
        ]
        try await F.withRouter(service) { client in
            for (fields, param) in cases {
                var body: [String: Any] = ["prompt": "a red circle"]
                body.merge(fields) { $1 }
                let response = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body))
                try F.expectError(response, .badRequest, param: param)
            }
            try F.expectError(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders,
                                                       body: F.json(["n": 1])), .badRequest, param: "prompt")
            // Truncated, not an object, empty, control bytes, nested past any sane depth (no stack overflow).
            for malformed in ["{\"prompt\": ", "[1, 2]", "", "\u{1}", String(repeating: "[", count: 200_000),
                              "{\"prompt\": " + String(repeating: "{\"a\":", count: 100_000)] {
                try F.expectError(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders,
                                                           body: ByteBuffer(string: malformed)), .badRequest, param: nil)
            }
        }
        XCTAssertEqual(service.queue?.load.running, 0)
    }

    func testEditAndVariationFileErrors() async throws {
        let service = try F.service()
        let square = F.png(width: 64, height: 64, transparent: { x, _ in x < 8 })
        let big = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(count: 4 << 20)
        let cases: [(String, [(String, String)], [(String, Data)], String?)] = [
            ("edits", [("prompt", "x")], [], "image"),
            ("edits", [], [("image", square)], "prompt"),
            ("edits", [("prompt", "x")], [("image", Data("GIF89a not a png".utf8))], "image"),
            ("edits", [("prompt", "x")], [("image", Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]))], "image"),
            ("edits", [("prompt", "x")], [("image", F.png(width: 64, height: 32, transparent: { _, _ in true }))], "image"),
            ("edits", [("prompt", "x")], [("image", F.png(width: 64, height: 64))], "image"),
            ("edits", [("prompt", "x")], [("image", F.png(width: 64, height: 64)), ("mask", F.png(width: 32, height: 32))], "mask"),
            ("edits", [("prompt", "x")], [("image", F.png(width: 64, height: 64)), ("mask", F.png(width: 64, height: 64))], "mask"),
            ("edits", [("prompt", "x")], [("image", big)], "image"),
            ("edits", [("prompt", "x")], [("image", square), ("image", square)], "image"),
            ("edits", [("prompt", "x")], [("image[]", square), ("image[]", square)], "image"),
            ("edits", [("prompt", "x"), ("n", "abc")], [("image", square)], "n"),
            ("edits", [("prompt", "x"), ("strength", "0")], [("image", square)], "strength"),
            ("edits", [("prompt", "x"), ("resample", "11")], [("image", square)], "resample"),
            ("edits", [("prompt", "x"), ("stream", "maybe")], [("image", square)], "stream"),
            ("variations", [("n", "1")], [], "image"),
            ("variations", [("prompt", "x")], [("image", square)], "prompt"),
            ("variations", [], [("image", F.png(width: 10, height: 20))], "image"),
            ("variations", [], [("image", square), ("mask", square)], "mask"),
            ("variations", [("size", "1024")], [("image", square)], "size"),
        ]
        try await F.withRouter(service) { client in
            for (route, fields, files, param) in cases {
                let response = try await client.execute(uri: "/v1/images/\(route)", method: .post, headers: F.formHeaders,
                                                        body: F.form(fields, files: files))
                try F.expectError(response, .badRequest, param: param)
            }
            // Not multipart, no boundary, a body that is not a form.
            try F.expectError(try await client.execute(uri: "/v1/images/edits", method: .post, headers: F.jsonHeaders,
                                                       body: F.json(["prompt": "x"])), .badRequest, param: nil)
            try F.expectError(try await client.execute(uri: "/v1/images/edits", method: .post, headers: [.contentType: "multipart/form-data"],
                                                       body: F.form([("prompt", "x")])), .badRequest, param: nil)
            for garbage in ["garbage", "--\(F.boundary)--\r\n", "--\(F.boundary)\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n1"] {
                try F.expectError(try await client.execute(uri: "/v1/images/variations", method: .post, headers: F.formHeaders,
                                                           body: ByteBuffer(string: garbage)), .badRequest, param: nil)
            }
            // More parts than any form of the API has (64).
            let many = F.form((0..<65).map { ("n", "\($0)") }, files: [("image", F.png(width: 8, height: 8))])
            try F.expectError(try await client.execute(uri: "/v1/images/variations", method: .post, headers: F.formHeaders, body: many),
                              .badRequest, param: nil)
            // Over the body limit: 413.
            let huge = F.form([("prompt", "x")], files: [("image", Data(count: APIContext.maxBody + 1))])
            try F.expectError(try await client.execute(uri: "/v1/images/edits", method: .post, headers: F.formHeaders, body: huge),
                              .contentTooLarge, param: nil)
        }
    }

    func testRoutesMethodsAndAPIKey() async throws {
        let service = try F.service { $0.apiKey = "sk-local-test" }
        try await F.withRouter(service) { client in
            try F.expectError(try await client.execute(uri: "/v1/models", method: .get), .unauthorized, param: nil)
            try F.expectError(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer wrong"]),
                              .unauthorized, param: nil, code: "invalid_api_key")
            try F.expectError(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "sk-local-test"]),
                              .unauthorized, param: nil, code: "invalid_api_key")
            let key: HTTPFields = [.authorization: "Bearer sk-local-test"]
            let r1 = try await client.execute(uri: "/v1/models", method: .get, headers: key)
            XCTAssertEqual(r1.status, .ok)
            let r2 = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(r2.status, .ok, "health needs no key")
            let missing = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: key)
            try F.expectError(missing, .notFound, param: nil)
            XCTAssertEqual(try F.error(missing)["message"] as? String, "Invalid URL (POST /v1/chat/completions)")
            let wrongMethod = try await client.execute(uri: "/v1/images/generations", method: .get, headers: key)
            try F.expectError(wrongMethod, .methodNotAllowed, param: nil)
            XCTAssertEqual(wrongMethod.headers[.allow], "POST")
            try F.expectError(try await client.execute(uri: "/v1/models", method: .delete, headers: key), .methodNotAllowed, param: nil)
        }
    }

    func testModeratedPromptIsRefusedAsOpenAIRefusesIt() async throws {
        let list = NSTemporaryDirectory() + "unclip-moderation-\(getpid()).txt"
        try "# test list\nforbidden thing\n/b[a4]d\\s+word/\n".write(toFile: list, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: list) }
        let policy = try PromptPolicy(listFile: list, command: nil)
        let service = try F.service { $0.policy = policy }
        try await F.withRouter(service) { client in
            for prompt in ["a Forbidden  Thing in a field", "a B4D word"] {
                let response = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders,
                                                        body: F.json(["prompt": prompt]))
                try F.expectError(response, .badRequest, param: nil, code: "content_policy_violation")
            }
            let edit = try await client.execute(uri: "/v1/images/edits", method: .post, headers: F.formHeaders,
                                                body: F.form([("prompt", "forbidden thing")], files: [("image", F.png(width: 8, height: 8, transparent: { _, _ in true }))]))
            try F.expectError(edit, .badRequest, param: nil, code: "content_policy_violation")
            var body = F.fastSteps
            body.merge(["prompt": "forbidden things", "size": "256x256", "response_format": "b64_json"]) { $1 }
            let allowed = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body))
            XCTAssertEqual(allowed.status, .ok, "whole words only: 'things' is not 'thing'")
        }
    }
}
