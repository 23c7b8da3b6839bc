// The images routes under HummingbirdTesting's router framework on the tiny-a weights: responses in OpenAI's shape,
// seeds as the CLI's (image k of n = seed + k), picture URLs, edits by mask and by alpha, variations, streaming
// events, models and health.
import Foundation
import Hummingbird
import HummingbirdTesting
import ImageIO
import ImagesServer
import Pipeline
import XCTest

final class ImagesRouteTests: XCTestCase {
    typealias F = ServerFixtures

    func testGenerationImageKIsSeedPlusKAtTheRequestedSize() async throws {
        let service = try F.service()
        try await F.withRouter(service) { client in
            var body = F.fastSteps
            body.merge(["prompt": "a red circle", "n": 2, "size": "512x512", "response_format": "b64_json", "seed": 40]) { $1 }
            let pair = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body)))
            XCTAssertEqual(pair.count, 2)
            XCTAssertEqual(pair.map { $0["seed"] as? Int }, [40, 41])
            body["n"] = 1; body["seed"] = 41
            let single = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body)))
            let second = try PNG.decode(try XCTUnwrap(Data(base64Encoded: pair[1]["b64_json"] as? String ?? ""))).image
            let alone = try PNG.decode(try XCTUnwrap(Data(base64Encoded: single[0]["b64_json"] as? String ?? ""))).image
            XCTAssertEqual([second.width, second.height], [512, 512])
            XCTAssertEqual(second.pixels, alone.pixels, "image 1 of seed 40 is the image of seed 41")
            XCTAssertNil(pair[0]["url"])
        }
    }

    func testGenerationEqualsTheEngineRunAndTheLanczosUpscale() async throws {
        let service = try F.service()
        // What `unclip-run generate --seed 7` draws, resized as the server says it resizes.
        var options = GenerationOptions()
        options.seed = 7
        options.prior.steps = 2; options.decoder.steps = 2; options.superRes.steps = 2
        let resolved = try service.engine.weights.resolve(.prompt("a blue square"), options)
        let native = try service.engine.generate(resolved.textToImage!).images[0]
        let expected = Resize.lanczos(Image8(width: native.width, height: native.height, channels: 3, pixels: native.pixels), width: 256, height: 256)
        try await F.withRouter(service) { client in
            var body = F.fastSteps
            body.merge(["prompt": "a blue square", "size": "256x256", "response_format": "b64_json", "seed": 7]) { $1 }
            let data = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body)))
            let decoded = try PNG.decode(try XCTUnwrap(Data(base64Encoded: data[0]["b64_json"] as? String ?? "")))
            XCTAssertEqual(decoded.image.pixels.enumerated().filter { $0.offset % 4 != 3 }.map(\.element), expected.pixels)
            XCTAssertTrue(decoded.text("parameters")?.contains("Seed: 7") == true, decoded.text("parameters") ?? "no parameters")
        }
    }

    func testURLFormatServesThePictureAtAnUnguessableAddress() async throws {
        let service = try F.service()
        try await F.withRouter(service) { client in
            var body = F.fastSteps
            body.merge(["prompt": "a red circle", "size": "256x256", "seed": 1]) { $1 }
            let data = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body)))
            let url = try XCTUnwrap(data[0]["url"] as? String)
            XCTAssertNil(data[0]["b64_json"])
            let path = try XCTUnwrap(URL(string: url)?.path)
            XCTAssertTrue(path.hasPrefix("/v1/images/files/") && path.hasSuffix(".png"), url)
            XCTAssertEqual(URL(string: url)!.lastPathComponent.count, 32 + 4, "128-bit id")
            let file = try await client.execute(uri: path, method: .get)
            XCTAssertEqual(file.status, .ok)
            XCTAssertEqual(file.headers[.contentType], "image/png")
            XCTAssertEqual(try PNG.decode(Data(buffer: file.body)).image.width, 256)
            try F.expectError(try await client.execute(uri: "/v1/images/files/0123456789abcdef0123456789abcdef.png", method: .get),
                              .notFound, param: nil)
        }
    }

    func testPublicURLIsTheHostOfReturnedURLs() async throws {
        let service = try F.service { $0.publicURL = "https://example.org/unclip/" }
        try await F.withRouter(service) { client in
            var body = F.fastSteps
            body.merge(["prompt": "a red circle", "size": "256x256"]) { $1 }
            let data = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body)))
            XCTAssertTrue((data[0]["url"] as? String ?? "").hasPrefix("https://example.org/unclip/v1/images/files/"), "\(data)")
        }
    }

    func testEditKeepsUnmaskedPixelsByMaskAndByAlpha() async throws {
        let service = try F.service()
        let side = 256
        let inside: (Int, Int) -> Bool = { x, y in (96..<160).contains(x) && (96..<160).contains(y) }
        let opaque = F.png(width: side, height: side)
        let mask = F.png(width: side, height: side, transparent: inside)
        let holed = F.png(width: side, height: side, transparent: inside)
        let source = try PNG.decode(opaque).image
        try await F.withRouter(service) { client in
            for files in [[("image", opaque), ("mask", mask)], [("image[]", holed)]] {
                let fields = [("prompt", "a red circle"), ("size", "256x256"), ("response_format", "b64_json"), ("seed", "3")]
                    + F.fastSteps.map { ($0.key, "\($0.value)") }
                let data = try F.data(try await client.execute(uri: "/v1/images/edits", method: .post, headers: F.formHeaders,
                                                              body: F.form(fields, files: files)))
                let edited = try PNG.decode(try XCTUnwrap(Data(base64Encoded: data[0]["b64_json"] as? String ?? ""))).image
                var kept = 0, changedInside = 0
                for y in 0..<side { for x in 0..<side {
                    let i = (y * side + x) * 4
                    if inside(x, y) { if edited.pixels[i..<(i + 3)] != source.pixels[i..<(i + 3)] { changedInside += 1 } }
                    else if edited.pixels[i..<(i + 3)] == source.pixels[i..<(i + 3)] { kept += 1 }
                } }
                XCTAssertEqual(kept, side * side - 64 * 64, "every pixel outside the edit is kept (\(files.map(\.0)))")
                XCTAssertGreaterThan(changedInside, 64 * 64 / 2, "the edited square is regenerated")
            }
        }
    }

    func testVariationAndStreamingEvents() async throws {
        let service = try F.service()
        try await F.withRouter(service) { client in
            let fields = [("size", "256x256"), ("response_format", "b64_json"), ("n", "2")] + [("decoder_steps", "2"), ("super_res_steps", "2")]
            let data = try F.data(try await client.execute(uri: "/v1/images/variations", method: .post, headers: F.formHeaders,
                                                          body: F.form(fields, files: [("image", F.png(width: 300, height: 300))])))
            XCTAssertEqual(data.count, 2)

            var body = F.fastSteps
            body.merge(["prompt": "a red circle", "size": "256x256", "stream": true, "partial_images": 2, "seed": 9]) { $1 }
            let streamed = try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body))
            XCTAssertEqual(streamed.status, .ok)
            XCTAssertEqual(streamed.headers[.contentType], "text/event-stream")
            let events = String(buffer: streamed.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            let names = events.compactMap { $0.split(separator: "\n").first.map { String($0.dropFirst("event: ".count)) } }
            XCTAssertEqual(names, ["image_generation.partial_image", "image_generation.partial_image", "image_generation.completed"])
            let last = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(events[2].split(separator: "\n")[1].dropFirst("data: ".count).utf8)) as? [String: Any])
            XCTAssertEqual(last["type"] as? String, "image_generation.completed")
            XCTAssertEqual(last["size"] as? String, "256x256")
            // The completed picture is the non-streamed one of the same seed.
            body["stream"] = nil; body["partial_images"] = nil; body["response_format"] = "b64_json"
            let plain = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post, headers: F.jsonHeaders, body: F.json(body)))
            XCTAssertEqual(last["b64_json"] as? String, plain[0]["b64_json"] as? String)
        }
    }

    func testModelsHealthAndReadiness() async throws {
        let service = try F.service(ready: false)
        try await F.withRouter(service) { client in
            let r1 = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(r1.status, .serviceUnavailable)
            service.isReady = true
            let r2 = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(r2.status, .ok)
            let models = try await client.execute(uri: "/v1/models", method: .get)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(buffer: models.body)) as? [String: Any])
            XCTAssertEqual((object["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["dall-e-2", "model"])
            let r3 = try await client.execute(uri: "/v1/models/dall-e-2", method: .get)
            XCTAssertEqual(r3.status, .ok)
            try F.expectError(try await client.execute(uri: "/v1/models/gpt-image-1", method: .get), .notFound, param: "model", code: "model_not_found")
        }
    }
}
