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

    func validate() throws {
        if positionalPrompt != nil && prompt != nil { throw ValidationError("give the prompt either as an argument or with --prompt, not both") }
        if positionalPrompt == nil && prompt == nil { throw ValidationError("missing prompt: unclip-run \"a red circle on a blue background\"") }
        if let priorSteps { try SamplingOptions.checkSteps(priorSteps, "--prior-steps") }
        if let priorGuidance { try SamplingOptions.checkGuidance(priorGuidance, "--prior-guidance") }
        try SchedulerArgument.validate(priorScheduler, option: "--prior-scheduler")
    }

    func run() throws { try sampling.threading.run { try runInContext() } }

    private func runInContext() throws {
        let text = positionalPrompt ?? prompt ?? ""
        let weights = try sampling.openWeights()
        guard weights.supportsTextToImage else {
            throw CLIError("weights file \(weights.file.path) has no prior, which text-to-image needs (it holds only the image-variations components; try `unclip-run variations`)")
        }
        let size = try sampling.outputSize(weights)
        let prior = try sampling.scheduler(priorScheduler, stage: .prior, weights: weights)
        let decoder = try sampling.scheduler(sampling.decoderScheduler, stage: .decoder, weights: weights)
        let superRes = try size == .superRes ? sampling.scheduler(sampling.superResScheduler, stage: .superRes, weights: weights) : nil
        try sampling.checkEta([prior, decoder] + (superRes.map { [$0] } ?? []))
        let (seed, randomSeed) = sampling.resolvedSeed()
        let s = sampling.settings(weights, priorSteps: priorSteps, priorGuidance: priorGuidance)
        let request = TextToImageRequest(
            prompt: text, count: sampling.count,
            prior: StageOptions(steps: s.priorSteps, guidanceScale: Float(s.priorGuidance), scheduler: prior),
            decoder: StageOptions(steps: s.decoderSteps, guidanceScale: Float(s.decoderGuidance), scheduler: decoder),
            superRes: StageOptions(steps: s.superResSteps, scheduler: superRes),
            noise: .perImage(seed: seed), size: size)
        var extra: [(String, String)] = [("Prior steps", "\(s.priorSteps)"), ("Prior CFG scale", "\(s.priorGuidance)"),
                                         ("Prior sampler", SamplingOptions.label(priorScheduler, prior))]
        extra += sampling.superResMetadata(superRes, steps: s.superResSteps)
        let pipeline: UnCLIPPipeline
        do { pipeline = try UnCLIPPipeline(weights: weights) } catch { throw CLIError("\(error)") }
        try sampling.execute(weights: weights, settings: s, stem: OutputFiles.slug(text), seed: seed, randomSeed: randomSeed,
                             metadata: (prompt: text, sampler: SamplingOptions.label(sampling.decoderScheduler, decoder), extra: extra)) {
            try pipeline.generate(request, hooks: $0)
        }
    }
}

extension SamplingOptions {
    /// Metadata keys of the super-res stage (or a note that it was skipped).
    func superResMetadata(_ scheduler: (any Scheduler)?, steps: Int) -> [(String, String)] {
        var out: [(String, String)] = []
        if let scheduler {
            out += [("SR steps", "\(steps)"), ("SR sampler", SamplingOptions.label(superResScheduler, scheduler))]
        } else {
            out.append(("SR", "off"))
        }
        if let eta { out.append(("Eta", "\(eta)")) }
        out += [("RNG", "torch"), ("Noise", "per image, seed+k")]
        return out
    }

    /// Output paths, progress, Ctrl-C, the run, then the PNGs (written whole, only when the run completed).
    func execute(weights: UnCLIPWeights, settings: SamplingDefaults, stem: String, seed: UInt64, randomSeed: Bool,
                 metadata: (prompt: String, sampler: String, extra: [(String, String)]),
                 run: (PipelineHooks) throws -> GenerationResult) throws {
        let seeds = (0..<count).map { seed &+ UInt64($0) }
        let paths = OutputFiles.paths(explicit: output, stem: stem, seeds: seeds)
        try OutputFiles.checkWritable(paths)
        let progress = ProgressReporter(quiet: quiet)
        if randomSeed { progress.note("seed: \(seed) (random; --seed \(seed) reproduces this run)") }
        InterruptFlag.shared.install()
        var hooks = PipelineHooks(progress: { progress.report($0) }, isCancelled: { InterruptFlag.shared.isSet },
                                  warning: { progress.warn("warning: \($0)") })
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
        } catch {
            throw CLIError("\(error)")
        }
        let model = URL(fileURLWithPath: weights.file.path).deletingPathExtension().lastPathComponent
        for (i, image) in result.images.enumerated() {
            let parameters = GenerationParameters(prompt: metadata.prompt, steps: settings.decoderSteps, sampler: metadata.sampler,
                                                  cfgScale: settings.decoderGuidance, seed: result.seeds[i], width: image.width,
                                                  height: image.height, model: model, extra: metadata.extra)
            try OutputFiles.write(image, to: paths[i], parameters: parameters)
            print("\(paths[i])  seed \(result.seeds[i])")
        }
    }
}
