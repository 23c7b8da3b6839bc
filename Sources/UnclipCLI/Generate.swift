// `unclip-run generate` (the default subcommand): prompt → PNG through the unCLIP pipeline.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline
import Schedulers

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate images from a prompt (default subcommand).",
        discussion: """
            Steps and guidance scales default to the weights file's recommendation (its sampling_defaults; the built-in \
            model has one), else diffusers' UnCLIPPipeline defaults: prior 25 steps at guidance 4, decoder 25 at 8, \
            super-resolution 7. `unclip-run inspect` shows a file's recommendation. \
            Each image gets its own torch-compatible generator seeded seed+k, so image k of -n N is the image a \
            single run with --seed seed+k gives. Progress goes to stderr; the written paths (and seeds) to stdout.
            """)

    @Argument(help: "The prompt (or use --prompt).")
    var positionalPrompt: String?

    @Option(name: .long, help: "The prompt.")
    var prompt: String?

    @Option(name: .long, help: "Prior denoising steps. Default: the weights file's recommendation, else 25.")
    var priorSteps: Int?

    @Option(name: .long, help: "Prior classifier-free guidance scale. Default: the weights file's recommendation, else 4.")
    var priorGuidance: Double?

    @Option(name: .long, help: "Prior sampler (as --decoder-scheduler).")
    var priorScheduler: String?

    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var moderation: ModerationOptions

    func validate() throws {
        if positionalPrompt != nil && prompt != nil { throw ValidationError("give the prompt either as an argument or with --prompt, not both") }
        if positionalPrompt == nil && prompt == nil { throw ValidationError("missing prompt: unclip-run \"a red circle on a blue background\"") }
        try SchedulerArgument.validate(priorScheduler, option: "--prior-scheduler")
        try SamplingOptions.validating {
            try sampling.options(priorScheduler: priorScheduler, priorSteps: priorSteps, priorGuidance: priorGuidance).validate()
            try RequestInput.prompt(positionalPrompt ?? prompt ?? "").validate()
        }
    }

    func run() throws { try sampling.threading.run { try runInContext() } }

    private func runInContext() throws {
        let text = positionalPrompt ?? prompt ?? ""
        try moderation.check(text)
        let weights = try sampling.openWeights()
        let request = try SamplingOptions.resolving {
            try weights.resolve(.prompt(text), sampling.options(priorScheduler: priorScheduler, priorSteps: priorSteps,
                                                                priorGuidance: priorGuidance, readingFiles: true))
        }
        let pipeline = try SamplingOptions.resolving { try UnCLIPPipeline(weights: weights) }
        try sampling.execute(weights: weights, request: request, stem: OutputFiles.slug(text)) {
            try pipeline.generate(request.textToImage!, hooks: $0)
        }
    }
}

extension SamplingOptions {
    /// Output paths, progress, Ctrl-C, the run, then the PNGs (written whole, only when the run completed) with the
    /// request's `parameters` text.
    func execute(weights: UnCLIPWeights, request: ResolvedRequest, stem: String, extraParameters: [(String, String)] = [],
                 run: (PipelineHooks) throws -> GenerationResult) throws {
        let seeds = (0..<request.count).map { request.seed &+ UInt64($0) }
        let paths = OutputFiles.paths(explicit: output, stem: stem, seeds: seeds)
        try OutputFiles.checkWritable(paths)
        let progress = ProgressReporter(quiet: quiet)
        if request.seedIsRandom { progress.note("seed: \(request.seed) (random; --seed \(request.seed) reproduces this run)") }
        InterruptFlag.shared.install()
        var hooks = PipelineHooks(progress: { progress.report($0) }, isCancelled: { InterruptFlag.shared.isSet },
                                  warning: { progress.warn("warning: \($0)") })
        hooks.note = { progress.note($0) }
        if let saveEvery {
            hooks.previewInterval = saveEvery
            hooks.preview = { p in
                for (i, image) in p.images.enumerated() where i < paths.count {
                    let path = OutputFiles.previewPath(for: paths[i], stage: p.stage, step: p.step, steps: p.stepCount)
                    do { try OutputFiles.write(image, to: path, parameters: nil); progress.note("preview: \(path)") } catch {
                        progress.warn("warning: \(error)")
                    }
                }
            }
        }
        let result: GenerationResult
        do {
            result = try run(hooks)
            if InterruptFlag.shared.isSet { throw PipelineError.cancelled }
        } catch PipelineError.cancelled {
            progress.warn("cancelled: no image was written")
            throw ExitCode(130)
        } catch let e as RequestError {
            throw CLIError(e.described(as: Self.optionName(e.field)))
        } catch {
            throw CLIError("\(error)")
        }
        let model = weights.modelName
        for (i, image) in result.images.enumerated() {
            var parameters = request.parameters(ofImage: i, width: image.width, height: image.height, model: model)
            parameters.extra += extraParameters
            if weights.precision != .fp32 { parameters.extra.append(("Precision", weights.precision.rawValue)) }
            try OutputFiles.write(image, to: paths[i], parameters: parameters)
            print("\(paths[i])  seed \(result.seeds[i])")
        }
    }
}
