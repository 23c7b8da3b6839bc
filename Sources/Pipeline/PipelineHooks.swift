// Mirrors the progress/cancel/preview hooks diffusers gives through tqdm and `callback_on_step_end`, plus phase marks
// as scripts/bench_reference.py takes them from forward pre-hooks.
import Foundation
import Schedulers
import TensorCore

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
    /// Progress notes of multi-part runs (e.g. which outpaint window starts).
    public var note: ((String) -> Void)?
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
