// `unclip-run serve`'s and `worker`'s option checks, and the moderation options the prompt-taking commands share with it: a refused
// prompt exits non-zero naming the rule (not the prompt) and writes nothing.
import Foundation
import XCTest

final class ServeCLITests: XCTestCase {
    func testServeRefusesBadOptionsBeforeListening() throws {
        let cases: [([String], String)] = [
            (["--port", "70000"], "--port must be 0…65535"), (["--max-concurrent", "0"], "--max-concurrent must be 1…64"),
            (["--max-queue=-1"], "--max-queue must be 0…10000"), (["--log-level", "loud"], "--log-level must be one of"),
            (["--public-url", "example.org"], "--public-url must start with http:// or https://"),
            (["--api-key", ""], "the API key (--api-key or UNCLIP_API_KEY) is empty"),
            (["--moderation-list", "/nonexistent/list.txt"], "cannot read moderation list /nonexistent/list.txt"),
            (["--max-attempts", "0"], "--max-attempts must be 1…100"), (["--max-attempts", "101"], "--max-attempts must be 1…100"),
            (["--drain-seconds=-1"], "--drain-seconds must be 0…86400"), (["--image-lifetime", "0.5"], "--image-lifetime must be 1…604800"),
            (["--queue", "postgres://u@h"], "names no database"),
        ]
        for (args, message) in cases {
            let r = try runCLI(["serve", "--port", "0"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
            XCTAssertFalse(r.out.contains("listening"), "\(args)")
        }
    }

    func testWorkerRefusesBadOptionsBeforeConnecting() throws {
        let queue = ["--queue", "postgres://u@127.0.0.1:1/db"]
        let cases: [([String], String)] = [
            ([], "Missing expected argument '--queue <queue>'"), (["--queue", "redis://h/db"], "is not a postgres://"),
            (queue + ["--port", "70000"], "--port must be 0…65535"), (queue + ["--max-concurrent", "65"], "--max-concurrent must be 1…64"),
            (queue + ["--lease-seconds", "0.5"], "--lease-seconds must be 1…3600"), (queue + ["--image-lifetime", "0"], "--image-lifetime must be 1…604800"),
            (queue + ["--name", ""], "--name must be 1…200 characters"), (queue + ["--log-level", "loud"], "--log-level must be one of"),
            (queue + ["--threads", "0"], "--threads must be between 1 and 256"),
        ]
        for (args, message) in cases {
            let r = try runCLI(["worker"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.err.contains(message), "\(args): \(r.err)")
            XCTAssertFalse(r.out.contains("taking jobs"), "\(args)")
        }
    }

    func testModerationOptionsRefusePromptsInGenerateAndEdit() throws {
        let dir = NSTemporaryDirectory() + "unclip-moderation-cli-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "red circle\n".write(toFile: dir + "/list.txt", atomically: true, encoding: .utf8)
        let generate = try runCLI(["generate", "--moderation-list", dir + "/list.txt", "--output", dir + "/out.png", "a Red Circle"])
        XCTAssertEqual(generate.status, 1)
        XCTAssertTrue(generate.err.contains("prompt refused by the moderation policy (moderation list line 1)"), generate.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.png"))
        let command = try runCLI(["edit", "--image", "/nonexistent.png", "--moderation-command", "echo deny", "a blue square"])
        XCTAssertEqual(command.status, 1)
        XCTAssertTrue(command.err.contains("prompt refused by the moderation policy (moderation command)"), command.err)
        XCTAssertFalse(command.err.contains("a blue square"))
    }
}
