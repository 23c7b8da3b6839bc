// Mirrors the arguments of diffusers pipelines/deprecated/unclip/pipeline_unclip.py (UnCLIPPipeline.__call__ @ 0.42.1) and
// pipeline_unclip_image_variation.py (UnCLIPImageVariationPipeline.__call__): the requests the two pipelines run.
import Foundation
import Schedulers
import TensorCore

/// A denoising stage of the unCLIP cascade.
public enum Stage: String, Sendable, CaseIterable {
    /// Text embedding → CLIP image embedding (`prior`, `prior_scheduler`).
    case prior
    /// Image embedding → small image (`decoder`, `decoder_scheduler`).
    case decoder
    /// Small image → large image (`super_res_first` / `super_res_last`, `super_res_scheduler`).
    case superRes = "super-res"

    /// The stage's name in diffusers' traces, golden files and benchmark columns: `prior`, `decoder`, `super_res`
    /// (``rawValue`` is how progress shows it: `super-res`).
    public var key: String { self == .superRes ? "super_res" : rawValue }

    /// The metadata key of the stage's `scheduler_config.json` in a weights file.
    public var schedulerConfigKey: String {
        switch self {
        case .prior: return "prior_scheduler.config"
        case .decoder: return "decoder_scheduler.config"
        case .superRes: return "super_res_scheduler.config"
        }
    }
}

/// The settings of one stage.
public struct StageOptions {
    /// Inference steps (`prior_num_inference_steps`, …).
    public var steps: Int
    /// Classifier-free guidance scale (prior and decoder; the super-res stage has no guidance).
    public var guidanceScale: Float
    /// The sampler; `nil` uses the weights file's scheduler config for the stage (diffusers' default).
    /// Build one with ``UnCLIPWeights/makeScheduler(for:name:config:eta:)``.
    public var scheduler: (any Scheduler)?

    public init(steps: Int, guidanceScale: Float = 1, scheduler: (any Scheduler)? = nil) {
        self.steps = steps; self.guidanceScale = guidanceScale; self.scheduler = scheduler
    }

    /// diffusers' defaults: prior 25 steps at guidance 4, decoder 25 at 8, super-res 7.
    public static var priorDefault: StageOptions { StageOptions(steps: 25, guidanceScale: 4) }
    public static var decoderDefault: StageOptions { StageOptions(steps: 25, guidanceScale: 8) }
    public static var superResDefault: StageOptions { StageOptions(steps: 7) }
}

/// How the random numbers are drawn (all from ``Random/TorchRandomSource``, bit-compatible with torch's CPU generator).
public enum NoiseMode: Sendable, Equatable {
    /// One generator for the whole batch: diffusers with `generator=torch.Generator().manual_seed(seed)`.
    case shared(seed: UInt64)
    /// One generator per image, image `i` seeded `seed + i`: diffusers with a list of generators
    /// (`randn_tensor` draws each batch row from its own generator), so image `i` is reproducible on its own.
    case perImage(seed: UInt64)

    /// The seed recorded for image `i`.
    public func seed(ofImage i: Int) -> UInt64 {
        switch self {
        case .shared(let s): return s
        case .perImage(let s): return s &+ UInt64(i)
        }
    }
}

/// The output resolution.
public enum OutputSize: Sendable, Equatable {
    /// The super-resolution UNet's `sample_size` (Karlo: 256): the full cascade.
    case superRes
    /// The decoder's `sample_size` (Karlo: 64): the super-res stage is skipped.
    case decoder
}

/// A text-to-image request (`UnCLIPPipeline.__call__`).
public struct TextToImageRequest {
    /// One or more prompts; each gives ``imagesPerPrompt`` images (batch rows prompt-major, as `repeat_interleave`).
    public var prompts: [String]
    public var imagesPerPrompt: Int
    public var prior: StageOptions
    public var decoder: StageOptions
    public var superRes: StageOptions
    public var noise: NoiseMode
    public var size: OutputSize

    public init(prompts: [String], imagesPerPrompt: Int = 1, prior: StageOptions = .priorDefault,
                decoder: StageOptions = .decoderDefault, superRes: StageOptions = .superResDefault,
                noise: NoiseMode, size: OutputSize = .superRes) {
        self.prompts = prompts; self.imagesPerPrompt = imagesPerPrompt
        self.prior = prior; self.decoder = decoder; self.superRes = superRes; self.noise = noise; self.size = size
    }

    /// A single prompt.
    public init(prompt: String, count: Int = 1, prior: StageOptions = .priorDefault, decoder: StageOptions = .decoderDefault,
                superRes: StageOptions = .superResDefault, noise: NoiseMode, size: OutputSize = .superRes) {
        self.init(prompts: [prompt], imagesPerPrompt: count, prior: prior, decoder: decoder, superRes: superRes,
                  noise: noise, size: size)
    }
}

/// An image-variations request (`UnCLIPImageVariationPipeline.__call__`).
public struct VariationRequest {
    /// The source pictures; each gives ``imagesPerImage`` variations.
    public var images: [InputImage]
    public var imagesPerImage: Int
    public var decoder: StageOptions
    public var superRes: StageOptions
    public var noise: NoiseMode
    public var size: OutputSize

    public init(images: [InputImage], imagesPerImage: Int = 1, decoder: StageOptions = .decoderDefault,
                superRes: StageOptions = .superResDefault, noise: NoiseMode, size: OutputSize = .superRes) {
        self.images = images; self.imagesPerImage = imagesPerImage
        self.decoder = decoder; self.superRes = superRes; self.noise = noise; self.size = size
    }
}
