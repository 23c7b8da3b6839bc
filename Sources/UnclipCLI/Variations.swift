// `unclip-run variations --image IN.png`: new pictures from the CLIP image embedding of a picture.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline

struct Variations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate variations of a picture (CLIP image embedding → decoder → super-resolution).",
        discussion: """
            As diffusers' UnCLIPImageVariationPipeline: the picture is resized (short side) and centre-cropped to \
            the CLIP vision tower's input size, encoded, and decoded with the empty prompt. Defaults: the weights \
            file's recommendation, else decoder 25 steps at guidance 8, super-resolution 7. Needs weights with an image_encoder component.
            """)

    @Option(name: .long, help: "The source picture (PNG; gray, RGB, with or without alpha — alpha is ignored).")
    var image: String

    @OptionGroup var sampling: SamplingOptions

    func run() throws { try sampling.threading.run { try runInContext() } }

    private func runInContext() throws {
        let decoded: PNG.Decoded
        do { decoded = try PNG.read(path: image) } catch { throw CLIError("cannot read --image \(image): \(error)") }
        let input: InputImage
        do {
            input = try InputImage(width: decoded.image.width, height: decoded.image.height,
                                   channels: decoded.image.channels, pixels: decoded.image.pixels)
        } catch { throw CLIError("--image \(image): \(error)") }
        let weights = try sampling.openWeights()
        guard weights.supportsVariations else {
            throw CLIError("weights file \(weights.file.path) has no image_encoder (CLIP vision tower), which variations need; "
                + "convert an image-variations folder (e.g. fusing/karlo-image-variations-diffusers) with scripts/convert.py")
        }
        let size = try sampling.outputSize(weights)
        let decoder = try sampling.scheduler(sampling.decoderScheduler, stage: .decoder, weights: weights)
        let superRes = try size == .superRes ? sampling.scheduler(sampling.superResScheduler, stage: .superRes, weights: weights) : nil
        try sampling.checkEta([decoder] + (superRes.map { [$0] } ?? []))
        let (seed, randomSeed) = sampling.resolvedSeed()
        let s = sampling.settings(weights)
        let request = VariationRequest(
            images: [input], imagesPerImage: sampling.count,
            decoder: StageOptions(steps: s.decoderSteps, guidanceScale: Float(s.decoderGuidance), scheduler: decoder),
            superRes: StageOptions(steps: s.superResSteps, scheduler: superRes),
            noise: .perImage(seed: seed), size: size)
        let source = URL(fileURLWithPath: image).lastPathComponent
        let extra = [("Variation of", source)] + sampling.superResMetadata(superRes, steps: s.superResSteps)
        let pipeline: UnCLIPImageVariationPipeline
        do { pipeline = try UnCLIPImageVariationPipeline(weights: weights) } catch { throw CLIError("\(error)") }
        let stem = OutputFiles.slug(URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent) + "-variation"
        try sampling.execute(weights: weights, settings: s, stem: stem, seed: seed, randomSeed: randomSeed,
                             metadata: (prompt: "", sampler: SamplingOptions.label(sampling.decoderScheduler, decoder), extra: extra)) {
            try pipeline.generate(request, hooks: $0)
        }
    }
}
