// `unclip-run outpaint --image IN.png --left 128 PROMPT`: grow the canvas and fill it through UnCLIPInpaintPipeline's
// overlapping windows. Parsing and printing only.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline

struct Outpaint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Extend a picture past its borders; the original pixels are kept byte for byte.",
        discussion: """
            The canvas grows by --left/--right/--top/--bottom pixels (at most \(OutpaintRequest.maxSide) a side). The new \
            area is filled by overlapping square windows of the model's size (256 for the built-in model), each an edit \
            whose known part is what is already there, always next to the most known pixels; the window grid overlaps by \
            at least a quarter. Window k uses seed+k.
            """)

    @Argument(help: "The prompt (or use --prompt).")
    var positionalPrompt: String?
    @Option(name: .long, help: "The prompt.")
    var prompt: String?
    @Option(name: .long, help: "The picture to extend (PNG, any size).")
    var image: String
    @Option(name: .long, help: "Pixels to add on the left.") var left = 0
    @Option(name: .long, help: "Pixels to add on the right.") var right = 0
    @Option(name: .long, help: "Pixels to add at the top.") var top = 0
    @Option(name: .long, help: "Pixels to add at the bottom.") var bottom = 0
    @Option(name: .long, help: "RePaint resampling count (1 = none).")
    var resample = 1
    @Option(name: .long, help: "Steps per RePaint jump.")
    var jumpLength = 10
    @Option(name: .long, help: "0: fill from the prompt (through the prior); 1: from each window's own CLIP embedding; between: a mix.")
    var imageWeight: Double = 0
    @Option(name: .long, help: "Prior denoising steps. Default: the weights file's recommendation, else 25.")
    var priorSteps: Int?
    @Option(name: .long, help: "Prior classifier-free guidance scale. Default: the weights file's recommendation, else 4.")
    var priorGuidance: Double?
    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        if positionalPrompt != nil && prompt != nil { throw ValidationError("give the prompt either as an argument or with --prompt, not both") }
        if positionalPrompt == nil && prompt == nil { throw ValidationError("missing prompt: unclip-run outpaint --image in.png --left 128 \"a red circle\"") }
        if sampling.size != nil { throw ValidationError("--size does not apply to outpaint: the canvas is the picture plus the margins") }
        if sampling.count != 1 { throw ValidationError("-n does not apply to outpaint: run it again with another --seed") }
        try SamplingOptions.validating {
            try sampling.options(priorScheduler: nil, priorSteps: priorSteps, priorGuidance: priorGuidance).validate()
        }
    }

    func run() throws { try sampling.threading.run { try runInContext() } }

    private func runInContext() throws {
        let text = positionalPrompt ?? prompt ?? ""
        let picture = try SamplingOptions.picture(image, option: "--image")
        let weights = try sampling.openWeights()
        let resolved = try SamplingOptions.resolving {
            try weights.resolve(.prompt(text), sampling.options(priorScheduler: nil, priorSteps: priorSteps,
                                                                priorGuidance: priorGuidance, readingFiles: true))
        }
        let base = resolved.textToImage!
        let request = OutpaintRequest(image: picture, left: left, right: right, top: top, bottom: bottom, prompt: text,
                                      imageWeight: Float(imageWeight), resamples: resample, jumpLength: jumpLength,
                                      prior: base.prior, decoder: base.decoder, superRes: base.superRes, seed: resolved.seed)
        let pipeline = try SamplingOptions.resolving { try UnCLIPInpaintPipeline(weights: weights) }
        let stem = OutputFiles.slug(URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent) + "-outpaint"
        let extra: [(String, String)] = [("Outpaint of", URL(fileURLWithPath: image).lastPathComponent),
                                         ("Margins", "left \(left), right \(right), top \(top), bottom \(bottom)"),
                                         ("Image weight", "\(imageWeight)"), ("Resample", "\(resample)"), ("Jump length", "\(jumpLength)"),
                                         ("Window seeds", "seed+k")]
        try sampling.execute(weights: weights, request: resolved, stem: stem, extraParameters: extra) { hooks in
            try pipeline.outpaint(request, hooks: hooks)
        }
    }
}
