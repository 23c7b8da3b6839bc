// A request resolved against one weights file: diffusers' defaults or the file's `sampling_defaults`, the schedulers
// built from the file's stage configs (`Scheduler.from_config(pipe.<stage>_scheduler.config)`), the output size, the
// seed, and the AUTOMATIC1111 `parameters` text that records all of it.
import Foundation
import ImageIO
import Schedulers

/// Everything a run needs, checked: what the pipelines take (``textToImage``, ``variation``) and what records it
/// (``parameters(ofImage:width:height:model:)``). Made by ``UnCLIPWeights/resolve(_:_:limits:)``.
public struct ResolvedRequest {
    public let input: RequestInput
    public let count: Int
    /// The seed of image 0 (image k uses seed + k), and whether it was drawn at random.
    public let seed: UInt64
    public let seedIsRandom: Bool
    /// Steps and guidance scales after options, the file's recommendation and diffusers' defaults.
    public let settings: SamplingDefaults
    public let size: OutputSize
    public let eta: Double?
    /// The samplers, set up for their step counts (nil: the stage does not run — the prior for variations,
    /// super-res at the decoder's size).
    public let priorScheduler: (any Scheduler)?, decoderScheduler: any Scheduler, superResScheduler: (any Scheduler)?
    /// How the metadata names each stage's sampler (`unclip`, `ddim`, a config file's name).
    public let priorLabel: String?, decoderLabel: String, superResLabel: String?

    /// The text-to-image request (nil for variations).
    public var textToImage: TextToImageRequest? {
        guard case .prompt(let text) = input else { return nil }
        return TextToImageRequest(
            prompt: text, count: count,
            prior: StageOptions(steps: settings.priorSteps, guidanceScale: Float(settings.priorGuidance), scheduler: priorScheduler),
            decoder: decoderOptions, superRes: superResOptions, noise: .perImage(seed: seed), size: size)
    }

    /// The variations request (nil for text-to-image).
    public var variation: VariationRequest? {
        guard case .image(let image, _) = input else { return nil }
        return VariationRequest(images: [image], imagesPerImage: count, decoder: decoderOptions, superRes: superResOptions,
                                noise: .perImage(seed: seed), size: size)
    }

    private var decoderOptions: StageOptions {
        StageOptions(steps: settings.decoderSteps, guidanceScale: Float(settings.decoderGuidance), scheduler: decoderScheduler)
    }
    private var superResOptions: StageOptions { StageOptions(steps: settings.superResSteps, scheduler: superResScheduler) }

    /// The PNG `parameters` text of image `i`: prompt, decoder steps/sampler/guidance, its seed, size, model, then the
    /// prior's and super-res's settings, η, the random source.
    public func parameters(ofImage i: Int, width: Int, height: Int, model: String) -> GenerationParameters {
        var extra: [(String, String)] = []
        let prompt: String
        switch input {
        case .prompt(let text):
            prompt = text
            extra += [("Prior steps", "\(settings.priorSteps)"), ("Prior CFG scale", "\(settings.priorGuidance)"),
                      ("Prior sampler", priorLabel ?? "")]
        case .image(_, let name):
            prompt = ""
            extra.append(("Variation of", name))
        }
        if let superResLabel {
            extra += [("SR steps", "\(settings.superResSteps)"), ("SR sampler", superResLabel)]
        } else {
            extra.append(("SR", "off"))
        }
        if let eta { extra.append(("Eta", "\(eta)")) }
        extra += [("RNG", "torch"), ("Noise", "per image, seed+k")]
        return GenerationParameters(prompt: prompt, steps: settings.decoderSteps, sampler: decoderLabel,
                                    cfgScale: settings.decoderGuidance, seed: seed &+ UInt64(i), width: width, height: height,
                                    model: model, extra: extra)
    }
}

extension UnCLIPWeights {
    /// Resolves and checks a request against this file: every option before any compute, each failure a
    /// ``RequestError`` naming its field (or a ``PipelineError`` when the file lacks what the request needs).
    public func resolve(_ input: RequestInput, _ options: GenerationOptions,
                        limits: RequestLimits = .standard) throws -> ResolvedRequest {
        try options.validate(limits: limits)
        try input.validate(limits: limits)
        let isText: Bool
        if case .prompt = input { isText = true } else { isText = false }
        if isText {
            guard supportsTextToImage else {
                throw PipelineError.missingComponent("weights file \(file.path) has no prior, which text-to-image needs "
                    + "(it holds only the image-variations components; make variations instead)")
            }
        } else {
            guard supportsVariations else {
                throw PipelineError.missingComponent("weights file \(file.path) has no image_encoder (CLIP vision tower), which "
                    + "variations need; convert an image-variations folder (e.g. fusing/karlo-image-variations-diffusers) with scripts/convert.py")
            }
        }
        let size = try outputSize(options.size)
        let settings = samplingDefaults.overridden(
            priorSteps: options.prior.steps, decoderSteps: options.decoder.steps, superResSteps: options.superRes.steps,
            priorGuidance: options.prior.guidanceScale, decoderGuidance: options.decoder.guidanceScale)
        let prior = try isText ? stageScheduler(.prior, options.prior.scheduler, steps: settings.priorSteps, eta: options.eta) : nil
        let decoder = try stageScheduler(.decoder, options.decoder.scheduler, steps: settings.decoderSteps, eta: options.eta)
        let superRes = try size == .superRes
            ? stageScheduler(.superRes, options.superRes.scheduler, steps: settings.superResSteps, eta: options.eta) : nil
        if options.eta != nil, ![prior?.scheduler, decoder.scheduler, superRes?.scheduler].contains(where: { $0 is DDIMScheduler }) {
            throw RequestError(.eta, "applies to the DDIM sampler only, and no stage uses it (e.g. set decoder_scheduler to ddim)")
        }
        let seed = options.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        return ResolvedRequest(input: input, count: options.count, seed: seed, seedIsRandom: options.seed == nil,
                               settings: settings, size: size, eta: options.eta,
                               priorScheduler: prior?.scheduler, decoderScheduler: decoder.scheduler, superResScheduler: superRes?.scheduler,
                               priorLabel: prior?.label, decoderLabel: decoder.label, superResLabel: superRes?.label)
    }

    /// A side length (nil: the largest these weights give) as an ``OutputSize``.
    public func outputSize(_ side: Int?) throws -> OutputSize {
        guard let side else { return superResSampleSize == nil ? .decoder : .superRes }
        if let sr = superResSampleSize, side == sr { return .superRes }
        if side == decoderSampleSize { return .decoder }
        let options = ["\(decoderSampleSize) (decoder only)"] + (superResSampleSize.map { ["\($0) (with super-resolution)"] } ?? [])
        throw RequestError(.size, "\(side) is not available with these weights: use \(options.joined(separator: " or "))")
    }

    /// A stage's scheduler, checked against its step count now rather than when the stage starts.
    private func stageScheduler(_ stage: Stage, _ choice: SchedulerChoice?, steps: Int,
                                eta: Double?) throws -> (scheduler: any Scheduler, label: String) {
        let scheduler: any Scheduler, label: String
        do {
            switch choice {
            case nil:
                scheduler = try makeScheduler(for: stage, eta: eta)
                label = Self.registryLabel(scheduler)
            case .named(let name)?:
                scheduler = try makeScheduler(for: stage, name: name.lowercased(), eta: eta)
                label = name.lowercased()
            case .config(let json, let name)?:
                scheduler = try makeScheduler(for: stage, config: json, eta: eta)
                label = name
            }
        } catch let e as PipelineError { throw e } catch {
            throw RequestError(.scheduler(stage), ": \(error)")
        }
        var trial = scheduler
        do { try trial.setTimesteps(steps) } catch { throw RequestError(.steps(stage), ": \(error)") }
        return (scheduler, label)
    }

    /// The registry name of a scheduler's class (`unclip`), else the class name.
    public static func registryLabel(_ scheduler: any Scheduler) -> String {
        if let c = scheduler as? any ConfigurableScheduler {
            let className = type(of: c).className
            return SchedulerRegistry.standard.registrations.first { $0.className == className }?.name ?? className
        }
        return "\(type(of: scheduler))"
    }
}
