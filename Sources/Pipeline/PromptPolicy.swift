// A trust-and-safety hook on prompts, in the place of OpenAI's content-policy check before generation: a list of
// terms and regular expressions, and/or an outside command asked about each prompt. Off unless configured; the
// server and the CLI apply the same policy.
import Foundation

/// A prompt the policy refuses. `rule` says which rule refused it (a list line or the command), never the prompt.
public struct ContentPolicyViolation: Error, CustomStringConvertible, Sendable {
    public let rule: String
    /// OpenAI's wording for a refused prompt.
    public static let message = "Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system."
    public var description: String { "prompt refused by the moderation policy (\(rule))" }
}

/// The policy could not decide (the command failed, timed out or answered something else): the request is not run.
public struct ModerationFailure: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { "moderation command failed: \(reason)" }
}

/// Which prompts may run.
///
/// List file, one rule a line (blank lines and lines starting with `#` are skipped):
/// - `/pattern/` — a regular expression (ICU syntax), matched case-insensitively anywhere in the prompt;
/// - anything else — a term or phrase, matched case-insensitively as whole words (`cat` refuses "a cat", not "catalog").
///
/// Command: run with `/bin/sh -c`, the prompt on its standard input; it answers `allow` or `deny` as the first word
/// of its output. Any other answer, a non-zero exit or no answer within ``commandTimeout`` seconds is a
/// ``ModerationFailure`` (the request is not run).
public struct PromptPolicy: @unchecked Sendable {
    struct Rule { let line: Int; let text: String; let regex: NSRegularExpression }
    let rules: [Rule]
    public let command: String?
    public var commandTimeout: Double = 10

    /// No rules: every prompt may run.
    public static let open = PromptPolicy(rules: [], command: nil)

    init(rules: [Rule], command: String?) { self.rules = rules; self.command = command }

    /// Reads the list file (if any); a rule that does not compile is an error naming its line.
    public init(listFile: String?, command: String?) throws {
        var rules: [Rule] = []
        if let listFile {
            let text: String
            do { text = try String(contentsOfFile: listFile, encoding: .utf8) } catch {
                throw PipelineError.invalidRequest("cannot read moderation list \(listFile): \(error.localizedDescription)")
            }
            rules = try Self.parse(text, name: listFile)
        }
        if let command, command.trimmingCharacters(in: .whitespaces).isEmpty {
            throw PipelineError.invalidRequest("the moderation command is empty")
        }
        self.init(rules: rules, command: command)
    }

    /// The rules of a list file's text.
    static func parse(_ text: String, name: String) throws -> [Rule] {
        var rules: [Rule] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let pattern: String
            if line.count >= 2, line.hasPrefix("/"), line.hasSuffix("/") {
                pattern = String(line.dropFirst().dropLast())
            } else {
                let words = line.split(whereSeparator: \.isWhitespace).map { NSRegularExpression.escapedPattern(for: String($0)) }
                pattern = "(?<![\\p{L}\\p{N}])" + words.joined(separator: "\\s+") + "(?![\\p{L}\\p{N}])"
            }
            do {
                rules.append(Rule(line: i + 1, text: line, regex: try NSRegularExpression(pattern: pattern, options: [.caseInsensitive])))
            } catch {
                throw PipelineError.invalidRequest("moderation list \(name) line \(i + 1): '\(line)' is not a valid regular expression")
            }
        }
        return rules
    }

    /// Whether the policy checks anything.
    public var isActive: Bool { !rules.isEmpty || command != nil }

    /// Throws ``ContentPolicyViolation`` when a rule or the command refuses `prompt`, ``ModerationFailure`` when the
    /// command cannot decide.
    public func check(_ prompt: String) throws {
        let range = NSRange(prompt.startIndex..., in: prompt)
        if let hit = rules.first(where: { $0.regex.firstMatch(in: prompt, range: range) != nil }) {
            throw ContentPolicyViolation(rule: "moderation list line \(hit.line)")
        }
        if let command { try ask(command, about: prompt) }
    }

    private func ask(_ command: String, about prompt: String) throws {
        let (outcome, output) = try ShellCommand.run(command, input: Array(prompt.utf8), timeout: commandTimeout)
        switch outcome {
        case .timedOut: throw ModerationFailure(reason: "no answer within \(Int(commandTimeout)) s")
        case .signalled(let s): throw ModerationFailure(reason: "it was killed by signal \(s)")
        case .exited(let status) where status != 0: throw ModerationFailure(reason: "it exited with status \(status)")
        case .exited: break
        }
        let text = String(decoding: output, as: UTF8.self)
        switch text.split(whereSeparator: \.isWhitespace).first?.lowercased() {
        case "allow": return
        case "deny": throw ContentPolicyViolation(rule: "moderation command")
        default: throw ModerationFailure(reason: "it answered '\(text.prefix(40))', not allow or deny")
        }
    }
}

