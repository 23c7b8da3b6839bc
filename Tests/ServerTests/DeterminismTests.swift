// Deterministic bytes through the API: the same request and seed give identical PNG files (pixels and metadata)
// across repeated runs, engine thread counts (1 and 2) and concurrent load (two jobs computing at once).
import Foundation
import Hummingbird
import HummingbirdTesting
import ImagesServer
import Pipeline
import XCTest

final class DeterminismTests: XCTestCase {
    typealias F = ServerFixtures

    static var body: ByteBuffer {
        var body = F.fastSteps
        body.merge(["prompt": "a red circle on a blue background", "n": 2, "size": "512x512", "response_format": "b64_json", "seed": 99]) { $1 }
        return F.json(body)
    }

    /// The PNG files of one request on a server with `threads` engine threads and `concurrent` jobs at once, sent
    /// `copies` times at once.
    func files(threads: Int, concurrent: Int, copies: Int) async throws -> [[String]] {
        var config = ServerConfiguration()
        config.maxConcurrent = concurrent
        let engine = try UnCLIPEngine(path: F.modelPath, configuration: .init(threads: threads, maxConcurrentRuns: concurrent))
        let server = ImagesService(engine: engine, configuration: config)
        server.isReady = true
        return try await F.withRouter(server) { client in
            try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<copies {
                    group.addTask {
                        let data = try F.data(try await client.execute(uri: "/v1/images/generations", method: .post,
                                                                       headers: F.jsonHeaders, body: Self.body))
                        return data.compactMap { $0["b64_json"] as? String }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
    }

    func testSamePNGBytesAcrossRunsThreadsAndConcurrentLoad() async throws {
        let reference = try await files(threads: 2, concurrent: 1, copies: 1)[0]
        XCTAssertEqual(reference.count, 2)
        XCTAssertNotEqual(reference[0], reference[1], "image 1 has its own seed")
        let again = try await files(threads: 2, concurrent: 1, copies: 1)[0]
        XCTAssertEqual(again, reference, "a second run")
        let oneThread = try await files(threads: 1, concurrent: 1, copies: 1)[0]
        XCTAssertEqual(oneThread, reference, "one engine thread")
        let overlapping = try await files(threads: 2, concurrent: 2, copies: 2)
        XCTAssertEqual(overlapping, [reference, reference], "two jobs computing at once")
    }
}

