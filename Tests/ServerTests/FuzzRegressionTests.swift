// Every input the fuzzers were seeded with or crashed on (Tests/Fuzz/corpus, Tests/Fuzz/regressions), replayed through
// the fuzz targets' bodies in the normal test run: a crash found once stays fixed. The findings so far:
// - FuzzWeights: a tokenizer config whose pad token is its start or end token trapped (a dictionary literal with
//   duplicate keys in CLIPTokenizer); real CLIP configs pad with the end token.
// - FuzzRequests: a multipart header name with a byte ≥ 0x80 trapped inside MultipartKit 4.7.1's parser (a remote crash
//   of the server); FormParts now refuses such names first (400).
// - FuzzTokenizer: the target's own check was wrong (encode has no BOS/EOS); kept as an input.
import Foundation
import FuzzBodies
import Hummingbird
import HummingbirdTesting
import XCTest

final class FuzzRegressionTests: XCTestCase {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    func inputs(_ folder: String, _ target: String) throws -> [(String, Data)] {
        let dir = Self.fuzz.appendingPathComponent("\(folder)/\(target)")
        guard FileManager.default.fileExists(atPath: dir.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { ($0, try Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    func testEveryCorpusAndRegressionInputRunsWithoutATrap() throws {
        var count = 0
        for (target, body) in FuzzBodies.targets.sorted(by: { $0.key < $1.key }) {
            let all = try inputs("corpus", target) + inputs("regressions", target)
            XCTAssertFalse(try inputs("corpus", target).isEmpty, "\(target) has no seed corpus")
            for (_, data) in all { body(data); count += 1 }
        }
        XCTAssertGreaterThan(count, 30)
    }

    func testTheMultipartCrashIsA400() async throws {
        let (_, data) = try XCTUnwrap(try inputs("regressions", "FuzzRequests").first)
        try await ServerFixtures.withRouter(try ServerFixtures.service()) { client in
            let response = try await client.execute(uri: "/v1/images/variations", method: .post, headers: ServerFixtures.formHeadersB,
                                                    body: ByteBuffer(bytes: data.dropFirst()))
            try ServerFixtures.expectError(response, .badRequest, param: nil)
        }
    }
}
