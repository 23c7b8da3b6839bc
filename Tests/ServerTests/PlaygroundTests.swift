// The playground page: served at `/` with its stylesheet and script, embedded in the binary exactly as the files in
// Sources/ImagesServer/Playground (scripts/embed_playground.py), calling only the public API, open without the API key.
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import ImagesServer
import XCTest

final class PlaygroundTests: XCTestCase {
    static let page = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/ImagesServer/Playground")

    func testEmbeddedAssetsAreThePageFiles() throws {
        XCTAssertEqual(Set(PlaygroundAssets.files.keys), ["/", "/playground.css", "/playground.js"])
        for (_, asset) in PlaygroundAssets.files {
            let text = try String(contentsOf: Self.page.appendingPathComponent(asset.name), encoding: .utf8)
            XCTAssertEqual(asset.text + "\n", text, "\(asset.name) changed: rerun scripts/embed_playground.py")
        }
    }

    func testPageIsServedWithoutAKeyAndCallsOnlyThePublicAPI() async throws {
        let service = try ServerFixtures.service { $0.apiKey = "sk-page" }
        try await ServerFixtures.withRouter(service) { client in
            let page = try await client.execute(uri: "/", method: .get)
            XCTAssertEqual(page.status, .ok)
            XCTAssertEqual(page.headers[.contentType], "text/html; charset=utf-8")
            XCTAssertTrue(String(buffer: page.body).contains("<script src=\"/playground.js\">"))
            let script = try await client.execute(uri: "/playground.js", method: .get)
            XCTAssertEqual(script.status, .ok)
            let js = String(buffer: script.body)
            let paths = js.components(separatedBy: "\"/").dropFirst().map { "/" + ($0.split(separator: "\"").first ?? "") }
            XCTAssertEqual(Set(paths), ["/v1/images/generations", "/v1/images/edits", "/v1/images/variations", "/health"], "\(paths)")
            XCTAssertFalse(js.contains("http://") || js.contains("https://"), "nothing fetched from outside")
            let health = try await client.execute(uri: "/health", method: .get)
            XCTAssertTrue(String(buffer: health.body).contains("\"api_key_required\":true"))
            let css = try await client.execute(uri: "/playground.css", method: .get)
            XCTAssertEqual(css.status, .ok)
        }
    }
}
