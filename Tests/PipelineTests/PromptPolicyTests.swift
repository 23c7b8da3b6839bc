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
        XCTAssertThrowsError(try slow.check("x")) { XCTAssertTrue("\($0)".contains("no answer"), "\($0)") }
    }
}
