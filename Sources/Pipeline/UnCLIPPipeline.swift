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
            try runPrior(priorScheduler, text: text, guidance: guidance, scale: request.prior.guidanceScale,
                         groups: &groups, hooks: hooks)
        }
        return try cascade.run(plan, imageEmbeddings: imageEmbeddings, text: text, guidance: guidance,
                               groups: &groups, seeds: seeds)
    }

    /// The prior loop (CFG on the predicted x̂₀), then `post_process_latents` (× clip_std + clip_mean, once).
    private func runPrior(_ scheduler: any Scheduler, text: TextConditioning, guidance: Bool, scale: Float,
                          groups: inout RowGroups, hooks: PipelineHooks) throws -> Tensor {
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

/// The text conditioning of a batch, ordered `[uncond; cond]` under classifier-free guidance.
struct TextConditioning {
    /// `[B2, D]` CLIP text embeddings (`text_embeds`, not normalised).
    let promptEmbeds: Tensor
    /// `[B2, 77, D]` last hidden states (after the final LayerNorm).
    let hiddenStates: Tensor
    /// `B2` rows of 77 attention-mask values (1 = token, 0 = padding).
    let mask: [[Int]]
    /// Whether the rows are `[uncond; cond]`.
    let guided: Bool

    /// The conditioning of batch rows `r` (both halves under guidance).
    func rows(_ r: Range<Int>) -> TextConditioning {
        guard guided else {
            return TextConditioning(promptEmbeds: promptEmbeds.rows(r), hiddenStates: hiddenStates.rows(r),
                                    mask: Array(mask[r]), guided: false)
        }
        let b = promptEmbeds.shape[0] / 2, cond = (r.lowerBound + b)..<(r.upperBound + b)
        return TextConditioning(promptEmbeds: TensorRows.concat(promptEmbeds.rows(r), promptEmbeds.rows(cond)),
                                hiddenStates: TensorRows.concat(hiddenStates.rows(r), hiddenStates.rows(cond)),
                                mask: Array(mask[r]) + Array(mask[cond]), guided: true)
    }
}

enum PromptEncoding {
    /// `_encode_prompt(prompt, num_images_per_prompt, do_classifier_free_guidance)`.
    ///
    /// Each distinct text goes through the encoder on its own (batch 1) and its rows are copied where diffusers
    /// repeats them, so a row's conditioning never depends on the rest of the batch.
    ///
    /// - Parameters:
    ///   - prompts: the `P` prompts; each row is repeated `repeats` times (`repeat_interleave`), `B = P · repeats`.
    ///   - guidance: prepend the unconditional half, the encoding of `""` for every row.
    static func encode(_ prompts: [String], repeats: Int, guidance: Bool, weights: UnCLIPWeights,
                       hooks: PipelineHooks) throws -> TextConditioning {
        try hooks.during(.textEncoding) {
            try encodeTexts(prompts, repeats: repeats, guidance: guidance, weights: weights, hooks: hooks)
        }
    }

    private static func encodeTexts(_ prompts: [String], repeats: Int, guidance: Bool, weights: UnCLIPWeights,
                                    hooks: PipelineHooks) throws -> TextConditioning {
        let tokenizer = weights.tokenizer
        let encoder = try hooks.during(.loading("text_encoder")) { try weights.textEncoder() }
        defer { weights.release("text_encoder") }
        var cache: [String: (embeds: Tensor, hidden: Tensor, mask: [Int])] = [:]
        func encoded(_ text: String) -> (embeds: Tensor, hidden: Tensor, mask: [Int]) {
            if let hit = cache[text] { return hit }
            let tokens = tokenizer.tokenize(text)
            if tokens.truncated {
                hooks.warning?("the following part of your input was truncated because CLIP can only handle sequences up to "
                    + "\(tokenizer.maxLength) tokens: \(tokenizer.decode(tokens.droppedIDs))")
            }
            let out = encoder(ids: [tokens.ids])                                 // no attention mask, as diffusers
            let value = (out.textEmbeds, out.lastHiddenState, tokens.mask)      // [1, D], [1, 77, D]
            cache[text] = value
            return value
        }
        let rowTexts = prompts.flatMap { [String](repeating: $0, count: repeats) }          // repeat_interleave
        let texts = (guidance ? [String](repeating: "", count: rowTexts.count) : []) + rowTexts   // [uncond; cond]
        let rows = texts.map(encoded)
        let embeds = rows.dropFirst().reduce(rows[0].embeds) { TensorRows.concat($0, $1.embeds) }   // [B2, D]
        let hidden = rows.dropFirst().reduce(rows[0].hidden) { TensorRows.concat($0, $1.hidden) }   // [B2, 77, D]
        hooks.trace?("prompt_embeds", embeds)
        hooks.trace?("text_encoder_hidden_states", hidden)
        return TextConditioning(promptEmbeds: embeds, hiddenStates: hidden, mask: rows.map(\.mask), guided: guidance)
    }
}
