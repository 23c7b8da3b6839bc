// Mirrors diffusers pipeline_unclip.py `_encode_prompt` (@ 0.42.1): tokenizer → CLIP text tower, the unconditional `""` half
// under guidance, rows repeated per image; shared by both pipelines (the variations pipeline encodes `""`).
import Foundation
import Models
import TensorCore
import Tokenizer

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
