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
        let input = RequestInput.image(try SamplingOptions.picture(image, option: "--image"),
                                       name: URL(fileURLWithPath: image).lastPathComponent)
        let weights = try sampling.openWeights()
        let request = try SamplingOptions.resolving {
            try weights.resolve(input, sampling.options(priorScheduler: nil, readingFiles: true))
        }
        let pipeline = try SamplingOptions.resolving { try UnCLIPImageVariationPipeline(weights: weights) }
        let stem = OutputFiles.slug(URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent) + "-variation"
        try sampling.execute(weights: weights, request: request, stem: stem) {
            try pipeline.generate(request.variation!, hooks: $0)
        }
    }
}
