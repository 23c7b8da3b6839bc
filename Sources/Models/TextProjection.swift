// Mirrors diffusers pipelines/deprecated/unclip/text_proj.py: UnCLIPTextProjModel (Karlo's decoder conditioning).
import Foundation
import Layers
import TensorCore
import WeightIO

/// `UnCLIPTextProjModel` config (`config.json` keys).
public struct TextProjectionConfiguration: Codable, Sendable {
    public var clipEmbeddingsDim: Int, clipExtraContextTokens: Int, crossAttentionDim: Int, timeEmbedDim: Int
    enum CodingKeys: String, CodingKey {
        case clipEmbeddingsDim = "clip_embeddings_dim", clipExtraContextTokens = "clip_extra_context_tokens"
        case crossAttentionDim = "cross_attention_dim", timeEmbedDim = "time_embed_dim"
    }
}

/// Turns (CLIP image embedding, CLIP text embedding, text hidden states) into the decoder's conditioning:
/// an additive time embedding and `[extra CLIP tokens; projected text tokens]` for its attention.
public struct TextProjection {
    public let config: TextProjectionConfiguration
    /// The learned image embedding of the unconditional half (Karlo's `cf_param`).
    public let guidanceEmbedding: Tensor
    let embeddingProj: Linear, imageToTime: Linear, extraTokens: Linear, hiddenProj: Linear
    let hiddenNorm: LayerNorm

    public init(file: WeightFile, component: String = "text_proj", precision: MatmulPrecision = .fp32) throws {
        let c = try decodeConfig(TextProjectionConfiguration.self, try file.requireMetadata(component + ".config"), component: component)
        let w = file.scope(component, precision: precision)
        config = c
        let d = c.clipEmbeddingsDim, t = c.timeEmbedDim, x = c.crossAttentionDim
        guidanceEmbedding = try w.tensor("learned_classifier_free_guidance_embeddings", shape: [d])
        embeddingProj = try Linear(w.scope("embedding_proj"), inFeatures: d, outFeatures: t)
        imageToTime = try Linear(w.scope("clip_image_embeddings_project_to_time_embeddings"), inFeatures: d, outFeatures: t)
        extraTokens = try Linear(w.scope("clip_extra_context_tokens_proj"), inFeatures: d, outFeatures: c.clipExtraContextTokens * x)
        hiddenProj = try Linear(w.scope("encoder_hidden_states_proj"), inFeatures: d, outFeatures: x)
        hiddenNorm = try LayerNorm(w.scope("text_encoder_hidden_states_norm"), dim: x, eps: 1e-5)
        try w.checkAllUsed()
    }

    /// The decoder conditioning.
    public struct Output {
        /// `[B, 4 + T, cross_attention_dim]`
        public let encoderHiddenStates: Tensor
        /// `[B, time_embed_dim]`, added to the decoder's time embedding (`class_embed_type="identity"`).
        public let additiveTimeEmbeddings: Tensor
    }

    /// - Parameters:
    ///   - imageEmbeddings: `[n, D]`; with guidance the learned embedding is prepended for the unconditional half.
    ///   - promptEmbeds: `[B, D]` and `textHiddenStates` `[B, T, D]`, `B = 2n` with guidance (`[uncond; cond]`).
    public func callAsFunction(imageEmbeddings: Tensor, promptEmbeds: Tensor, textHiddenStates: Tensor, guidance: Bool) -> Output {
        let d = config.clipEmbeddingsDim, x = config.crossAttentionDim, k = config.clipExtraContextTokens
        var image = imageEmbeddings
        if guidance {
            let n = imageEmbeddings.shape[0]
            image = Tensor(uninitialized: [2 * n, d])
            for i in 0..<n { (image.data + i * d).update(from: guidanceEmbedding.data, count: d) }
            (image.data + n * d).update(from: imageEmbeddings.data, count: n * d)
        }
        let b = image.shape[0], tokens = textHiddenStates.shape[1]
        precondition(promptEmbeds.shape[0] == b && textHiddenStates.shape[0] == b, "text_proj: batch sizes disagree")
        let add = imageToTime(image)                                     // [B, Tdim]
        Ops.add(add, embeddingProj(promptEmbeds), into: add)
        let extra = extraTokens(image)                                   // [B, x·k], channel-major: token j, channel c = [c·k + j]
        let normed = hiddenNorm(hiddenProj(textHiddenStates))            // [B, T, x]
        let ehs = Tensor(uninitialized: [b, k + tokens, x])
        for i in 0..<b {
            let dst = ehs.data + i * (k + tokens) * x, src = extra.data + i * x * k
            for j in 0..<k { for c in 0..<x { dst[j * x + c] = src[c * k + j] } }   // reshape(B, x, k).permute(0, 2, 1)
            (dst + k * x).update(from: normed.data + i * tokens * x, count: tokens * x)
        }
        return Output(encoderHiddenStates: ehs, additiveTimeEmbeddings: add)
    }
}
