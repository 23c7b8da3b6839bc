// Options shared by `edit` and `outpaint`: the prompt, the fill's conditioning and RePaint resampling, the prior's
// settings, and the resolution of all of them (with the sampling options) by the pipeline.
import ArgumentParser
import Foundation
import Pipeline

struct EditOptions: ParsableArguments {
    @Argument(help: "The prompt (or use --prompt).")
    var positionalPrompt: String?
    @Option(name: .long, help: "The prompt.")
    var prompt: String?
    @Option(name: .long, help: "RePaint resampling count (1 = none).")
    var resample = 1
    @Option(name: .long, help: "Steps per RePaint jump.")
    var jumpLength = 10
    @Option(name: .long, help: "0: fill from the prompt (through the prior); 1: from the picture's own CLIP embedding; between: a mix.")
    var imageWeight: Double = 0
    @Option(name: .long, help: "Prior denoising steps. Default: the weights file's recommendation, else 25.")
    var priorSteps: Int?
    @Option(name: .long, help: "Prior classifier-free guidance scale. Default: the weights file's recommendation, else 4.")
    var priorGuidance: Double?
    @OptionGroup var moderation: ModerationOptions

    /// The prompt, from the argument or `--prompt`.
    var text: String { positionalPrompt ?? prompt ?? "" }

    /// Checks the prompt and, with `sampling`, every option the pipeline can check without weights.
    func validate(with sampling: SamplingOptions, command: String) throws {
        if positionalPrompt != nil && prompt != nil { throw ValidationError("give the prompt either as an argument or with --prompt, not both") }
        if positionalPrompt == nil && prompt == nil {
            throw ValidationError("missing prompt: unclip-run \(command) --image in.png \"a red circle on a blue background\"")
        }
        if sampling.size != nil { throw ValidationError("--size does not apply to \(command): the result has the picture's own size") }
        try SamplingOptions.validating {
            try sampling.options(priorScheduler: nil, priorSteps: priorSteps, priorGuidance: priorGuidance).validate()
            try RequestInput.prompt(text).validate()
        }
    }

    /// The prompt's request resolved against `weights` (steps, guidance, schedulers, seed) with `sampling`.
    func resolve(_ weights: UnCLIPWeights, _ sampling: SamplingOptions) throws -> ResolvedRequest {
        try SamplingOptions.resolving {
            try weights.resolve(.prompt(text), sampling.options(priorScheduler: nil, priorSteps: priorSteps,
                                                                priorGuidance: priorGuidance, readingFiles: true))
        }
    }

    /// The PNG `parameters` keys of the fill.
    var parameters: [(String, String)] {
        [("Image weight", "\(imageWeight)"), ("Resample", "\(resample)"), ("Jump length", "\(jumpLength)")]
    }
}
