// `unclip-run tokenize`: the 77 padded ids the text encoder will see.
import ArgumentParser
import Foundation
import Models
import Tokenizer
import WeightIO

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the 77 padded CLIP token ids of a prompt.")

    @Argument(help: "The text to tokenize.")
    var text: String

    @Option(name: .long, help: "Weights file whose tokenizer to use (default: the built-in weights).")
    var weights: String?

    @Flag(name: .long, help: "Print a JSON array.")
    var json = false

    func run() throws {
        let path = try WeightsLocator.resolve(weights)
        let tokenizer: CLIPTokenizer
        do { tokenizer = try CLIPTokenizer(file: try WeightFile(path: path)) } catch { throw CLIError("\(error)") }
        let t = tokenizer.tokenize(text)
        if t.truncated {
            // diffusers' pipeline warns the same way.
            FileHandle.standardError.write(Data(("warning: the following part of your input was truncated because CLIP can only handle "
                + "sequences up to \(tokenizer.maxLength) tokens: \(tokenizer.decode(t.droppedIDs))\n").utf8))
        }
        print(json ? "[" + t.ids.map(String.init).joined(separator: ", ") + "]" : t.ids.map(String.init).joined(separator: " "))
    }
}

/// Where weights come from: `--weights`, else `UNCLIP_WEIGHTS`, else the built-in weights: `weights/unclip-builtin.safetensors`
/// under the current directory or the checkout the binary was built in (`UNCLIP_WEIGHTS_DIRS`, a colon-separated
/// list of directories, replaces those two places).
enum WeightsLocator {
    static let builtInName = "unclip-builtin.safetensors"

    static func resolve(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        let env = ProcessInfo.processInfo.environment
        if let path = env["UNCLIP_WEIGHTS"], !path.isEmpty { return path }
        let dirs = env["UNCLIP_WEIGHTS_DIRS"].map { $0.split(separator: ":").map(String.init) } ?? candidateDirectories()
        for dir in dirs {
            let p = dir + "/weights/" + builtInName
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw CLIError("""
            no weights: the built-in model weights/\(builtInName) was not found (searched \(dirs.joined(separator: ", "))). \
            Run from the repository checkout, pass --weights FILE (or set UNCLIP_WEIGHTS) with a file converted by \
            scripts/convert.py from a diffusers unCLIP folder (e.g. kakaobrain/karlo-v1-alpha), or retrain the built-in \
            model with scripts/train-builtin.sh.
            """)
    }

    /// The current directory, and the repository checkout the binary was built in (up to 5 levels above it).
    static func candidateDirectories() -> [String] {
        var dirs = [FileManager.default.currentDirectoryPath]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 { dirs.append(url.path); url = url.deletingLastPathComponent() }
        return dirs
    }
}
