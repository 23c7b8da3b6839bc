// `unclip-run edit --image IN.png [--mask MASK.png] PROMPT`: inpainting (and image-to-image) through the pipeline's
// UnCLIPInpaintPipeline. Parsing and printing only.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline

struct Edit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Regenerate part of a picture under a prompt (inpainting); the rest is kept byte for byte.",
        discussion: """
            What to edit: with --mask, where the mask is transparent (--mask-mode alpha, OpenAI's rule) or white \
            (--mask-mode white); without it, where the picture itself is transparent; a picture with no transparent \
            pixel is edited everywhere (image-to-image: lower --strength keeps more of it). The picture must be square; \
            the result has its size. Training-free: the kept pixels are imposed at every denoising step (RePaint), at \
            the decoder's and the super-resolution's size; --resample N repeats each stretch of --jump-length steps N \
            times for smoother seams (N× the time).
            """)

    @Option(name: .long, help: "The picture to edit (PNG, square).")
    var image: String
    @Option(name: .long, help: "The mask (PNG, the picture's size). Default: the picture's own alpha.")
    var mask: String?
    @Option(name: .long, help: "alpha: transparent = edit (OpenAI); white: white = edit.")
    var maskMode = "alpha"
    @Option(name: .long, help: "Feather the paste this many pixels into the edited side.")
    var maskBlur = 0
    @Option(name: .long, help: "In (0, 1]: how much noise replaces the picture before denoising (1: all).")
    var strength: Double = 1
    @OptionGroup var fill: EditOptions
    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        try fill.validate(with: sampling, command: "edit")
        guard ["alpha", "white"].contains(maskMode) else { throw ValidationError("--mask-mode must be alpha or white, got '\(maskMode)'") }
    }

    func run() throws { try sampling.threading.run { try runInContext() } }

    private func runInContext() throws {
        let text = fill.text
        try fill.moderation.check(text)
        let picture = try SamplingOptions.picture(image, option: "--image")
        let editMask: EditMask
        if let mask {
            let m = try SamplingOptions.picture(mask, option: "--mask")
            guard m.width == picture.width, m.height == picture.height else {
                throw CLIError("--mask is \(m.width)×\(m.height), but --image is \(picture.width)×\(picture.height)")
            }
            editMask = maskMode == "white" ? EditMask(whiteOf: m) : EditMask(alphaOf: m, wholeIfOpaque: false)
        } else {
            editMask = EditMask(alphaOf: picture)
        }
        let weights = try sampling.openWeights()
        let resolved = try fill.resolve(weights, sampling)
        let base = resolved.textToImage!
        let request = EditRequest(image: picture, mask: editMask, prompt: text, count: resolved.count,
                                  imageWeight: Float(fill.imageWeight), strength: Float(strength), resamples: fill.resample,
                                  jumpLength: fill.jumpLength, maskBlur: maskBlur, prior: base.prior, decoder: base.decoder,
                                  superRes: base.superRes, noise: base.noise)
        let pipeline = try SamplingOptions.resolving { try UnCLIPInpaintPipeline(weights: weights) }
        let stem = OutputFiles.slug(URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent) + "-edit"
        let edits: [(String, String)] = [("Edit of", URL(fileURLWithPath: image).lastPathComponent),
                                         ("Mask", mask.map { "\(URL(fileURLWithPath: $0).lastPathComponent) (\(maskMode))" } ?? "image alpha"),
                                         ("Edited pixels", "\(editMask.editableCount)"), ("Strength", "\(strength)")]
            + fill.parameters + [("Mask blur", "\(maskBlur)")]
        try sampling.execute(weights: weights, request: resolved, stem: stem, extraParameters: edits) { hooks in
            try pipeline.edit(request, hooks: hooks)
        }
    }
}
