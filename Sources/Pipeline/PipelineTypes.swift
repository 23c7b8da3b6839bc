// Mirrors the arguments and outputs of diffusers pipelines/deprecated/unclip/pipeline_unclip.py (UnCLIPPipeline.__call__ @ 0.42.1)
// and pipeline_unclip_image_variation.py, the progress/cancel/preview hooks diffusers gives through tqdm and callbacks,
// and the post-processing: `image * 0.5 + 0.5`, clamp, NHWC, then diffusers/utils/pil_utils.py `numpy_to_pil`'s rounding.
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

/// Progress after one denoising step.
public struct StepProgress: Sendable {
    public let stage: Stage
    /// Steps done in this stage (1…``stepCount``).
    public let step: Int
    public let stepCount: Int
    /// Seconds since the stage's first step started (loading excluded).
    public let elapsed: Double
    /// Mean seconds per step so far.
    public var secondsPerStep: Double { elapsed / Double(step) }
    /// Estimated seconds until the stage is done.
    public var remaining: Double { secondsPerStep * Double(stepCount - step) }
}

/// The scheduler's predicted x̂₀ at a step, as pictures (decoder and super-res stages).
public struct Preview {
    public let stage: Stage
    public let step: Int
    public let stepCount: Int
    /// One picture per batch row, at the stage's resolution.
    public let images: [GeneratedImage]
}

/// A stretch of work in a run, reported at its start and its end through ``PipelineHooks/phase`` (for benchmarks:
/// stage boundaries and weight-loading time, as `scripts/bench_reference.py` takes them from forward pre-hooks).
public enum PipelinePhase: Sendable, Equatable {
    /// `_encode_prompt`: tokenizing and the CLIP text tower (with the `""` row under guidance), loading included.
    case textEncoding
    /// A stage, loading included: the prior loop and `post_process_latents`; `text_proj`, the decoder loop and the
    /// clamp; the bicubic upsample and the super-res loop. The final conversion to pixels follows the last stage.
    case stage(Stage)
    /// Building one component from the weights file (`"prior"`, `"super_res_last"`, …), inside the phase that needs it.
    case loading(String)
}

/// Callbacks into a running pipeline. All run on the calling thread, between steps.
public struct PipelineHooks {
    /// After every step of every stage.
    public var progress: ((StepProgress) -> Void)?
    /// Polled before each stage and between steps; returning `true` stops the run with ``PipelineError/cancelled``.
    public var isCancelled: (() -> Bool)?
    /// Every `previewInterval` steps (and never when 0), the predicted x̂₀ of the decoder and super-res stages.
    public var previewInterval: Int
    public var preview: ((Preview) -> Void)?
    /// Non-fatal notices (e.g. a prompt truncated to 77 tokens).
    public var warning: ((String) -> Void)?
    /// Intermediate tensors, named as in the golden fixtures (Tests/Fixtures/models/README.md): `prompt_embeds`,
    /// `text_encoder_hidden_states`, `image_embeddings`, `text_proj.encoder_hidden_states`,
    /// `text_proj.additive_clip_time_embeddings`, `image_upscaled`, and per stage `<stage>.x` (the initial
    /// latents, then each step's x_{t−1}) and `<stage>.model_output` (what the scheduler received);
    /// stage names `prior`, `decoder`, `super_res`. For tests and debugging.
    public var trace: ((String, Tensor) -> Void)?
    /// Called with `true` when a ``PipelinePhase`` starts and `false` when it ends (also when it ends by throwing).
    public var phase: ((PipelinePhase, Bool) -> Void)?

    public init(progress: ((StepProgress) -> Void)? = nil, isCancelled: (() -> Bool)? = nil, previewInterval: Int = 0,
                preview: ((Preview) -> Void)? = nil, warning: ((String) -> Void)? = nil, trace: ((String, Tensor) -> Void)? = nil,
                phase: ((PipelinePhase, Bool) -> Void)? = nil) {
        self.progress = progress; self.isCancelled = isCancelled; self.previewInterval = previewInterval
        self.preview = preview; self.warning = warning; self.trace = trace; self.phase = phase
    }

    func checkCancelled() throws {
        if isCancelled?() == true { throw PipelineError.cancelled }
    }

    /// Runs `body` between the start and end reports of `phase`.
    func during<T>(_ phase: PipelinePhase, _ body: () throws -> T) rethrows -> T {
        self.phase?(phase, true)
        defer { self.phase?(phase, false) }
        return try body()
    }
}

/// What a run produced.
public struct GenerationResult {
    /// One RGB picture per batch row, 8-bit as diffusers' `numpy_to_pil` rounds it.
    public let images: [GeneratedImage]
    /// `[B, H, W, 3]` in [0, 1]: diffusers' `output_type="np"`.
    public let pixels: Tensor
    /// The seed recorded for each image (see ``NoiseMode/seed(ofImage:)``).
    public let seeds: [UInt64]

    /// The mean of ``pixels`` (diffusers' `images.mean()` with `output_type="np"`), summed in Double: a quick
    /// check that two engines drew the same pictures.
    public var pixelMean: Double {
        var sum = 0.0
        for i in 0..<pixels.count { sum += Double(pixels.data[i]) }
        return pixels.count == 0 ? 0 : sum / Double(pixels.count)
    }
}

/// Why a pipeline run stopped.
public enum PipelineError: Error, CustomStringConvertible, Equatable {
    /// ``PipelineHooks/isCancelled`` returned true.
    case cancelled
    /// The weights file lacks something the run needs.
    case missingComponent(String)
    /// A request value the pipeline cannot use.
    case invalidRequest(String)
    /// The weights file holds a value the pipeline cannot use (e.g. malformed `sampling_defaults`).
    case invalidWeights(String)

    public var description: String {
        switch self {
        case .cancelled: return "cancelled"
        case .missingComponent(let m): return m
        case .invalidRequest(let m): return m
        case .invalidWeights(let m): return m
        }
    }
}

/// An 8-bit RGB picture produced by the pipeline.
public struct GeneratedImage: Sendable, Equatable {
    public let width: Int, height: Int
    /// `width × height × 3` bytes, row-major RGB.
    public let pixels: [UInt8]
}

enum ImagePostprocess {
    /// `[B, 3, H, W]` in [−1, 1] → `[B, H, W, 3]` = clamp(x·0.5 + 0.5, 0, 1), as the pipeline's post-processing.
    static func toUnitNHWC(_ x: Tensor) -> Tensor {
        let b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        precondition(c == 3, "expected 3 channels, got \(x.shape)")
        let y = Tensor(uninitialized: [b, h, w, c])                          // [B, H, W, 3]
        for n in 0..<b {
            for ch in 0..<c {
                let src = x.data + (n * c + ch) * h * w
                for p in 0..<(h * w) {
                    let v = src[p] * 0.5 + 0.5                              // two float32 ops, as torch (×0.5 is exact)
                    y.data[(n * h * w + p) * c + ch] = min(max(v, 0), 1)
                }
            }
        }
        return y
    }

    /// `[B, H, W, 3]` in [0, 1] → 8-bit pictures: `(v · 255).round()` with NumPy's half-to-even rounding.
    static func toImages(_ nhwc: Tensor) -> [GeneratedImage] {
        let b = nhwc.shape[0], h = nhwc.shape[1], w = nhwc.shape[2], n = h * w * 3
        return (0..<b).map { i in
            let src = nhwc.data + i * n
            let bytes = (0..<n).map { UInt8(clamping: Int((src[$0] * 255).rounded(.toNearestOrEven))) }
            return GeneratedImage(width: w, height: h, pixels: bytes)
        }
    }

    /// Pictures of a `[B, 3, H, W]` tensor in [−1, 1] (previews of x̂₀).
    static func images(fromSigned x: Tensor) -> [GeneratedImage] {
        toImages(toUnitNHWC(x))
    }
}
