// unclip-run: the command-line front end. It parses options and prints results; it holds no math.
import ArgumentParser
import Foundation
import TensorCore

@main
struct UnclipRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unclip-run",
        abstract: "Local, offline, CPU-only unCLIP (DALL·E 2 style) image generation.",
        subcommands: [Generate.self, Variations.self, Edit.self, Outpaint.self, Serve.self, WorkerCommand.self, Tokenize.self, Inspect.self, Info.self, Bench.self],
        defaultSubcommand: Generate.self)

    static func main() {
        // OpenBLAS reads OPENBLAS_* at load time; we keep it single-threaded (see Threading), so its
        // workers never spin. Nothing else is needed before parsing.
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Options shared by every subcommand that computes.
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "Engine threads (default: UNCLIP_THREADS or all cores). OpenBLAS never adds threads of its own.")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
        if let error = ComputeContext.winogradSettingError() { throw ValidationError(error) }
    }

    /// Runs `body` in a compute context of `--threads` threads (default: `UNCLIP_THREADS` or all cores).
    func run<R>(convChunkFloats: Int? = nil, _ body: () throws -> R) rethrows -> R {
        let context = ComputeContext(threads: threads ?? Threading.defaultCount(),
                                     convChunkFloats: convChunkFloats ?? ComputeContext.environmentConvChunk())
        return try context.run(body)
    }
}

/// A user-facing failure: printed as `error: …`, exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
