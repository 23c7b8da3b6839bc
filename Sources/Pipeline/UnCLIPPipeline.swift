// Mirrors diffusers pipelines/deprecated/unclip/pipeline_unclip.py (UnCLIPPipeline.__call__ and _encode_prompt @ 0.42.1):
// text → prior → text_proj → decoder → super-res, with the random draws in diffusers' order.
import Foundation
import Models
import Random
import Schedulers
import TensorCore
import Tokenizer

/// Text-to-image generation (Karlo / DALL·E 2 unCLIP), numerically following diffusers' `UnCLIPPipeline`.
///
/// ```swift
/// let pipeline = try UnCLIPPipeline(weights: UnCLIPWeights(path: "karlo.safetensors"))
/// let result = try pipeline.generate(TextToImageRequest(prompt: "a red circle", noise: .perImage(seed: 42)))
/// ```
///
/// Random numbers are drawn in diffusers' order from torch-compatible generators: prior x_T, the prior's
/// step noises, decoder x_T, decoder step noises, super-res x_T, super-res step noises. With
/// ``NoiseMode/shared(seed:)`` a run reproduces diffusers called with `torch.Generator().manual_seed(seed)`;
/// with ``NoiseMode/perImage(seed:)`` it reproduces diffusers called with a list of generators.
public final class UnCLIPPipeline {
    public let weights: UnCLIPWeights

    /// Checks that the file can do text-to-image (a prior and its scheduler config are present).
    public init(weights: UnCLIPWeights) throws {
        try weights.require("prior", for: "text-to-image")
        _ = try weights.schedulerConfig(for: .prior)
        self.weights = weights
    }

    /// Runs the whole cascade for `request`.
    ///
    /// - Throws: ``PipelineError/invalidRequest(_:)`` or a ``Schedulers/SchedulerError`` for bad options (before
    ///   any compute), ``PipelineError/cancelled`` when `hooks.isCancelled` says so, or a weights error.
    public func generate(_ request: TextToImageRequest, hooks: PipelineHooks = PipelineHooks()) throws -> GenerationResult {
        guard !request.prompts.isEmpty else { throw PipelineError.invalidRequest("no prompt") }
        guard request.imagesPerPrompt >= 1 else {
            throw PipelineError.invalidRequest("the image count must be at least 1, got \(request.imagesPerPrompt)")
        }
        let batch = request.prompts.count * request.imagesPerPrompt
        // Every option is checked before the first network runs.
        let priorScheduler = try DenoisingLoop.prepare(request.prior, .prior, weights: weights)
        let cascade = DecoderCascade(weights: weights, hooks: hooks)
        let plan = try cascade.plan(decoder: request.decoder, superRes: request.superRes, size: request.size)
        let guidance = request.prior.guidanceScale > 1 || request.decoder.guidanceScale > 1
        var groups = RowGroups(request.noise, batch: batch)
        let seeds = (0..<batch).map { request.noise.seed(ofImage: $0) }

        try hooks.checkCancelled()
        let text = try PromptEncoding.encode(request.prompts, repeats: request.imagesPerPrompt, guidance: guidance,
                                             weights: weights, hooks: hooks)
        try hooks.checkCancelled()
        let imageEmbeddings = try hooks.during(.stage(.prior)) {
            try Self.runPrior(priorScheduler, weights: weights, text: text, guidance: guidance,
                              scale: request.prior.guidanceScale, groups: &groups, hooks: hooks)
        }
        return try cascade.run(plan, imageEmbeddings: imageEmbeddings, text: text, guidance: guidance,
                               groups: &groups, seeds: seeds)
    }

    /// The prior loop (CFG on the predicted x̂₀), then `post_process_latents` (× clip_std + clip_mean, once).
    static func runPrior(_ scheduler: any Scheduler, weights: UnCLIPWeights, text: TextConditioning, guidance: Bool,
                         scale: Float, groups: inout RowGroups, hooks: PipelineHooks) throws -> Tensor {
        let prior = try hooks.during(.loading("prior")) { try weights.prior() }
        defer { weights.release("prior") }
        let conditioning = groups.ranges.map { text.rows($0) }
        let loop = DenoisingLoop(.prior, hooks: hooks)
        let xs = try loop.run(scheduler, shape: [prior.config.embeddingDim], groups: &groups) { input, t, _, g in
            let c = conditioning[g]
            let modelInput = guidance ? TensorRows.concat(input, input) : input    // [b2, D]
            let predicted = prior(sample: modelInput, timestep: t, textEmbeds: c.promptEmbeds,
                                  textHiddenStates: c.hiddenStates, textMask: c.mask)   // [b2, D]
            return guidance ? TensorRows.guide(predicted, scale: scale) : predicted   // [b, D]
        }
        let embeddings = prior.postProcess(TensorRows.concat(xs))                   // [B, D]
        hooks.trace?("image_embeddings", embeddings)
        return embeddings
    }
}
