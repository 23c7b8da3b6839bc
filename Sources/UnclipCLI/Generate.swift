// `unclip-run generate` (the default subcommand): prompt → PNG.
import ArgumentParser
import Foundation

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate images from a prompt (default subcommand).")

    @Argument(help: "The prompt (or use --prompt).")
    var positionalPrompt: String?

    @Option(name: .long, help: "The prompt.")
    var prompt: String?

    @Option(name: .long, help: "Weights file (default: the built-in weights in weights/).")
    var weights: String?

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        if positionalPrompt != nil && prompt != nil { throw ValidationError("give the prompt either as an argument or with --prompt, not both") }
        if positionalPrompt == nil && prompt == nil { throw ValidationError("missing prompt: unclip-run \"a red circle on a blue background\"") }
    }

    func run() throws {
        // The pipeline lands with the models; until then this says so honestly instead of pretending.
        throw CLIError("""
            image generation is not implemented yet in this build: the tensor core, weight file and PNG I/O \
            are in place; the CLIP, prior, decoder and super-resolution models and the pipeline are next. \
            Use `unclip-run bench ops` to benchmark the kernels and `unclip-run inspect FILE` to read a weights file.
            """)
    }
}
