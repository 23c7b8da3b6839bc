// Where `unclip-run` finds its weights, in the XDG Base Directory spirit (an installed program's data under
// PREFIX/share, the user's under $XDG_DATA_HOME) with the checkout as the last resort for developers.
import Foundation

/// Where weights come from, first match wins:
/// 1. `--weights FILE`;
/// 2. `UNCLIP_WEIGHTS` (a file);
/// 3. `../share/unclip/unclip-builtin.safetensors` beside the binary (what `scripts/install.sh PREFIX` lays out);
/// 4. the user's data folder: `$XDG_DATA_HOME/unclip/` (default `~/.local/share/unclip/`);
/// 5. the checkout: `weights/unclip-builtin.safetensors` under the current directory, or under the checkout the
///    binary was built in (up to 5 levels above it).
/// `UNCLIP_WEIGHTS_DIRS` (colon-separated folders, each searched for `weights/unclip-builtin.safetensors`) replaces 3–5.
enum WeightsLocator {
    static let builtInName = "unclip-builtin.safetensors"

    static func resolve(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        let env = ProcessInfo.processInfo.environment
        if let path = env["UNCLIP_WEIGHTS"], !path.isEmpty { return path }
        let candidates = env["UNCLIP_WEIGHTS_DIRS"].map { $0.split(separator: ":").map { "\($0)/weights/\(builtInName)" } }
            ?? candidateFiles(env)
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw CLIError("""
            no weights: the built-in model \(builtInName) was not found (searched \(candidates.joined(separator: ", "))). \
            Install it with scripts/install.sh, run from the repository checkout, pass --weights FILE (or set UNCLIP_WEIGHTS) \
            with a file converted by scripts/convert.py from a diffusers unCLIP folder (e.g. kakaobrain/karlo-v1-alpha), or \
            retrain the built-in model with scripts/train-builtin.sh.
            """)
    }

    /// Places 3–5, in order.
    static func candidateFiles(_ env: [String: String]) -> [String] {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var files = [binary.deletingLastPathComponent().appendingPathComponent("share/unclip/\(builtInName)").path]
        let dataHome = env["XDG_DATA_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? env["HOME"].map { $0 + "/.local/share" }
        if let dataHome { files.append("\(dataHome)/unclip/\(builtInName)") }
        return files + checkoutDirectories().map { "\($0)/weights/\(builtInName)" }
    }

    /// The current directory, and the repository checkout the binary was built in (up to 5 levels above it).
    static func checkoutDirectories() -> [String] {
        var dirs = [FileManager.default.currentDirectoryPath]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 { dirs.append(url.path); url = url.deletingLastPathComponent() }
        return dirs
    }
}
