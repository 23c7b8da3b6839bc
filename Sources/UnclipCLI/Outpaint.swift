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

    @Option(name: .long, help: "The picture to extend (PNG, any size).")
    var image: String
    @Option(name: .long, help: "Pixels to add on the left.") var left = 0
    @Option(name: .long, help: "Pixels to add on the right.") var right = 0
    @Option(name: .long, help: "Pixels to add at the top.") var top = 0
    @Option(name: .long, help: "Pixels to add at the bottom.") var bottom = 0
    @OptionGroup var fill: EditOptions
    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        try fill.validate(with: sampling, command: "outpaint")
        if sampling.count != 1 { throw ValidationError("-n does not apply to outpaint: run it again with another --seed") }
    }

    func run() throws { try sampling.threading.run { try runInContext() } }

    private func runInContext() throws {
        let text = fill.text
        try fill.moderation.check(text)
        let picture = try SamplingOptions.picture(image, option: "--image")
        let weights = try sampling.openWeights()
        let resolved = try fill.resolve(weights, sampling)
        let base = resolved.textToImage!
        let request = OutpaintRequest(image: picture, left: left, right: right, top: top, bottom: bottom, prompt: text,
                                      imageWeight: Float(fill.imageWeight), resamples: fill.resample, jumpLength: fill.jumpLength,
                                      prior: base.prior, decoder: base.decoder, superRes: base.superRes, seed: resolved.seed)
        let pipeline = try SamplingOptions.resolving { try UnCLIPInpaintPipeline(weights: weights) }
        let stem = OutputFiles.slug(URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent) + "-outpaint"
        let extra = [("Outpaint of", URL(fileURLWithPath: image).lastPathComponent),
                     ("Margins", "left \(left), right \(right), top \(top), bottom \(bottom)")]
            + fill.parameters + [("Window seeds", "seed+k")]
        try sampling.execute(weights: weights, request: resolved, stem: stem, extraParameters: extra) { hooks in
            try pipeline.outpaint(request, hooks: hooks)
        }
    }
}
