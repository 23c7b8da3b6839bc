// The moderation policy: list rules (whole-word terms and phrases, /regex/, comments), a rule that does not compile,
// and the command's answers (allow, deny, anything else, a failing or silent command).
import Foundation
import Pipeline
import XCTest

final class PromptPolicyTests: XCTestCase {
    func list(_ text: String) throws -> PromptPolicy {
        let path = NSTemporaryDirectory() + "unclip-policy-\(getpid())-\(UUID().uuidString).txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try PromptPolicy(listFile: path, command: nil)
    }

    func refused(_ policy: PromptPolicy, _ prompt: String) -> String? {
        do { try policy.check(prompt); return nil } catch let e as ContentPolicyViolation { return e.rule } catch { return "\(error)" }
    }

    func testListTermsArePhrasesOfWholeWordsAndSlashesMarkRegexes() throws {
        let policy = try list("# comment\n\ncat\nhot  dog\n/sn[a@]ke/\n")
        XCTAssertEqual(refused(policy, "a Cat on a mat"), "moderation list line 3")
        XCTAssertNil(refused(policy, "a catalog of cats"))
        XCTAssertEqual(refused(policy, "a HOT\tdog stand"), "moderation list line 4")
        XCTAssertNil(refused(policy, "a hotdog"))
        XCTAssertEqual(refused(policy, "a green sn@kes nest"), "moderation list line 5")
        XCTAssertNil(refused(PromptPolicy.open, "a cat"))
        XCTAssertFalse(PromptPolicy.open.isActive)
    }

    func testBadRegexAndMissingFileAreErrorsNamingThem() throws {
        XCTAssertThrowsError(try list("ok\n/[unclosed/\n")) { XCTAssertTrue("\($0)".contains("line 2"), "\($0)") }
        XCTAssertThrowsError(try PromptPolicy(listFile: "/nonexistent/list.txt", command: nil)) {
            XCTAssertTrue("\($0)".contains("/nonexistent/list.txt"), "\($0)")
        }
        XCTAssertThrowsError(try PromptPolicy(listFile: nil, command: "  "))
    }

    func testCommandAnswersAllowDenyOrFails() throws {
        let deny = try PromptPolicy(listFile: nil, command: "grep -qi dragon && echo deny || echo allow")
        XCTAssertEqual(refused(deny, "a red Dragon"), "moderation command")
        XCTAssertNil(refused(deny, "a red circle"))
        for (command, reason) in [("echo maybe", "answered"), ("exit 3", "status 3"), ("true", "answered")] {
            let policy = try PromptPolicy(listFile: nil, command: command)
            XCTAssertThrowsError(try policy.check("x")) { error in
                XCTAssertTrue(error is ModerationFailure && "\(error)".contains(reason), "\(command): \(error)")
            }
        }
        var slow = try PromptPolicy(listFile: nil, command: "sleep 5; echo allow")
        slow.commandTimeout = 0.3
        let start = Date()
        XCTAssertThrowsError(try slow.check("x")) { XCTAssertTrue("\($0)".contains("no answer"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3, "the command is killed at its deadline")
        // With what it started: a child of the shell that would outlive it is killed with it.
        let marker = "unclip-policy-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        var spawner = try PromptPolicy(listFile: nil, command: "sh -c 'sleep 30; echo \(marker)' & wait")
        spawner.commandTimeout = 0.3
        XCTAssertThrowsError(try spawner.check("x"))
        usleep(200_000)
        let left = try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { Int($0) != nil }.filter { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains(marker)
        }
        XCTAssertEqual(left, [], "the command's children outlived its deadline")
    }

    func testCommandsThatIgnoreTheirInputDieOrLeaveChildrenAreHandled() throws {
        // A command that never reads a 10,000-character prompt: its answer decides (no SIGPIPE, no blocking write).
        let ignores = try PromptPolicy(listFile: nil, command: "echo allow")
        XCTAssertNil(refused(ignores, String(repeating: "a red circle ", count: 800)))
        // It reads the whole prompt when it wants it.
        let counts = try PromptPolicy(listFile: nil, command: "[ $(wc -c) -eq 10400 ] && echo allow || echo deny")
        XCTAssertNil(refused(counts, String(repeating: "a red circle ", count: 800)))
        let killed = try PromptPolicy(listFile: nil, command: "kill -9 $$")
        XCTAssertThrowsError(try killed.check("x")) { XCTAssertTrue("\($0)".contains("signal 9"), "\($0)") }
        // A background child that keeps no pipe open does not hold the answer back.
        let start = Date()
        let forks = try PromptPolicy(listFile: nil, command: "sleep 3 >/dev/null 2>&1 </dev/null & echo allow")
        XCTAssertNil(refused(forks, "x"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        // Many runs leave no file descriptors behind.
        let before = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        for _ in 0..<50 { XCTAssertNil(refused(ignores, "x")) }
        XCTAssertLessThanOrEqual(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count, before + 1)
    }
}
