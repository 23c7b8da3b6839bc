// Mirrors diffusers models/transformers/prior_transformer.py (PriorTransformer) with attention.py's
// BasicTransformerBlock (layer_norm, exact GELU, biased attention) as Karlo's 1B prior uses them.
import Foundation
import Layers
import TensorCore
import WeightIO

/// `PriorTransformer` config.
public struct PriorConfiguration: Decodable, Sendable {
    public var numAttentionHeads: Int, attentionHeadDim: Int, numLayers: Int, embeddingDim: Int
    public var numEmbeddings: Int, additionalEmbeddings: Int
    public var timeEmbedDim: Int?, embeddingProjDim: Int?, clipEmbedDim: Int?
    public var timeEmbedActFn: String?, normInType: String?, embeddingProjNormType: String?
    public var encoderHidProjType: String?, addedEmbType: String?
    enum CodingKeys: String, CodingKey {
        case numAttentionHeads = "num_attention_heads", attentionHeadDim = "attention_head_dim", numLayers = "num_layers"
        case embeddingDim = "embedding_dim", numEmbeddings = "num_embeddings", additionalEmbeddings = "additional_embeddings"
        case timeEmbedDim = "time_embed_dim", embeddingProjDim = "embedding_proj_dim", clipEmbedDim = "clip_embed_dim"
        case timeEmbedActFn = "time_embed_act_fn", normInType = "norm_in_type", embeddingProjNormType = "embedding_proj_norm_type"
        case encoderHidProjType = "encoder_hid_proj_type", addedEmbType = "added_emb_type"
    }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 32
        attentionHeadDim = try c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) ?? 64
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? 20
        embeddingDim = try c.decodeIfPresent(Int.self, forKey: .embeddingDim) ?? 768
        numEmbeddings = try c.decodeIfPresent(Int.self, forKey: .numEmbeddings) ?? 77
        additionalEmbeddings = try c.decodeIfPresent(Int.self, forKey: .additionalEmbeddings) ?? 4
        timeEmbedDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbedDim)
        embeddingProjDim = try c.decodeIfPresent(Int.self, forKey: .embeddingProjDim)
        clipEmbedDim = try c.decodeIfPresent(Int.self, forKey: .clipEmbedDim)
        timeEmbedActFn = try c.decodeIfPresent(String.self, forKey: .timeEmbedActFn)
        normInType = try c.decodeIfPresent(String.self, forKey: .normInType)
        embeddingProjNormType = try c.decodeIfPresent(String.self, forKey: .embeddingProjNormType)
        encoderHidProjType = try c.decodeIfPresent(String.self, forKey: .encoderHidProjType)
        addedEmbType = try c.decodeIfPresent(String.self, forKey: .addedEmbType)
    }
}

/// One `BasicTransformerBlock` (self-attention only, layer norms, GELU feed-forward).
struct PriorBlock {
    let norm1: LayerNorm, norm3: LayerNorm
    let q: Linear, k: Linear, v: Linear, out: Linear, ff1: Linear, ff2: Linear
    let heads: Int, headDim: Int

    init(_ w: WeightScope, width: Int, heads: Int, headDim: Int) throws {
        norm1 = try LayerNorm(w.scope("norm1"), dim: width, eps: 1e-5)
        norm3 = try LayerNorm(w.scope("norm3"), dim: width, eps: 1e-5)
        let a = w.scope("attn1")
        q = try Linear(a.scope("to_q"), inFeatures: width, outFeatures: heads * headDim)
        k = try Linear(a.scope("to_k"), inFeatures: width, outFeatures: heads * headDim)
        v = try Linear(a.scope("to_v"), inFeatures: width, outFeatures: heads * headDim)
        out = try Linear(a.scope("to_out").scope(0), inFeatures: heads * headDim, outFeatures: width)
        ff1 = try Linear(w.scope("ff").scope("net").scope(0).scope("proj"), inFeatures: width, outFeatures: 4 * width)
        ff2 = try Linear(w.scope("ff").scope("net").scope(2), inFeatures: 4 * width, outFeatures: width)
        self.heads = heads; self.headDim = headDim
    }

    /// h `[B, L, W]` in place; mask `[B, L, L]` additive.
    func callAsFunction(_ h: Tensor, mask: Tensor?) {
        let x = norm1(h)
        let a = Tensor(uninitialized: [h.shape[0], h.shape[1], heads * headDim])
        Ops.attention(q: AttentionOperand(q(x)), k: AttentionOperand(k(x)), v: AttentionOperand(v(x)), batch: h.shape[0],
                      heads: heads, headDim: headDim, mask: mask.map { .perQuery($0) }, into: a)
        Ops.add(h, out(a), into: h)
        let m = ff1(norm3(h))                                     // [B, L, 4W]
        Ops.activation(.gelu, m, into: m)
        Ops.add(h, ff2(m), into: h)
    }
}

/// The diffusion prior: predicts the (standardised) CLIP image embedding x0 from a noisy one and the text.
public struct PriorTransformer {
    public let config: PriorConfiguration
    let timeLinear1: Linear, timeLinear2: Linear
    let proj: Linear, embeddingProj: Linear, encoderProj: Linear
    let positional: Tensor, prd: Tensor
    let blocks: [PriorBlock]
    let normOut: LayerNorm
    let toClip: Linear
    /// `[1, clip_embed_dim]` statistics of Karlo's standardised embedding space.
    public let clipMean: Tensor, clipStd: Tensor
    var width: Int { config.numAttentionHeads * config.attentionHeadDim }

    public init(file: WeightFile, component: String = "prior", precision: MatmulPrecision = .fp32) throws {
        let c = try decodeConfig(PriorConfiguration.self, try file.requireMetadata(component + ".config"), component: component)
        guard (c.addedEmbType ?? "prd") == "prd", (c.encoderHidProjType ?? "linear") == "linear", c.normInType == nil,
              c.embeddingProjNormType == nil, (c.timeEmbedActFn ?? "silu") == "silu" else {
            throw ConfigurationError("prior: only Karlo's PriorTransformer options are supported (prd token, linear encoder projection, no input norms, SiLU time MLP)")
        }
        config = c
        let w = file.scope(component, precision: precision)
        let inner = c.numAttentionHeads * c.attentionHeadDim, d = c.embeddingDim
        let timeDim = c.timeEmbedDim ?? inner, clipDim = c.clipEmbedDim ?? d
        timeLinear1 = try Linear(w.scope("time_embedding").scope("linear_1"), inFeatures: inner, outFeatures: timeDim)
        timeLinear2 = try Linear(w.scope("time_embedding").scope("linear_2"), inFeatures: timeDim, outFeatures: timeDim)
        guard timeDim == inner else { throw ConfigurationError("prior: time_embed_dim must equal the inner width") }
        proj = try Linear(w.scope("proj_in"), inFeatures: d, outFeatures: inner)
        embeddingProj = try Linear(w.scope("embedding_proj"), inFeatures: c.embeddingProjDim ?? d, outFeatures: inner)
        encoderProj = try Linear(w.scope("encoder_hidden_states_proj"), inFeatures: d, outFeatures: inner)
        positional = try w.tensor("positional_embedding", shape: [1, c.numEmbeddings + c.additionalEmbeddings, inner])
        prd = try w.tensor("prd_embedding", shape: [1, 1, inner])
        blocks = try (0..<c.numLayers).map {
            try PriorBlock(w.scope("transformer_blocks").scope($0), width: inner, heads: c.numAttentionHeads, headDim: c.attentionHeadDim)
        }
        normOut = try LayerNorm(w.scope("norm_out"), dim: inner, eps: 1e-5)
        toClip = try Linear(w.scope("proj_to_clip_embeddings"), inFeatures: inner, outFeatures: clipDim)
        clipMean = try w.tensor("clip_mean", shape: [1, clipDim])
        clipStd = try w.tensor("clip_std", shape: [1, clipDim])
        try w.checkAllUsed()
    }

    /// `predicted_image_embedding` `[B, clip_dim]`.
    /// - Parameters:
    ///   - sample: `[B, D]` noisy embedding (standardised space); `timestep`: the original 0…999 timestep.
    ///   - textEmbeds: `[B, D]`; `textHiddenStates`: `[B, T, D]`; `textMask`: `B` rows of `T` 0/1 (nil: no mask at all, as diffusers).
    public func callAsFunction(sample: Tensor, timestep: Int, textEmbeds: Tensor, textHiddenStates: Tensor, textMask: [[Int]]?) -> Tensor {
        self(sample: sample, timestep: Float(timestep), textEmbeds: textEmbeds, textHiddenStates: textHiddenStates, textMask: textMask)
    }

    /// The same with a fractional timestep (schedulers that interpolate between training steps, e.g. Euler with linspace spacing).
    public func callAsFunction(sample: Tensor, timestep: Float, textEmbeds: Tensor, textHiddenStates: Tensor, textMask: [[Int]]?) -> Tensor {
        let b = sample.shape[0], t = textHiddenStates.shape[1], inner = width
        let seq = t + 4
        let temb = Ops.timestepEmbedding([Float](repeating: timestep, count: b), dim: inner, flipSinToCos: true, downscaleFreqShift: 0)
        let te1 = timeLinear1(temb)
        Ops.activation(.silu, te1, into: te1)
        let time = timeLinear2(te1)                                           // [B, W]
        let enc = encoderProj(textHiddenStates)                               // [B, T, W]
        let emb = embeddingProj(textEmbeds), x = proj(sample)                 // [B, W] each
        let h = Tensor(uninitialized: [b, seq, inner])                        // [text…, emb, time, x, prd]
        for i in 0..<b {
            let row = h.data + i * seq * inner
            row.update(from: enc.data + i * t * inner, count: t * inner)
            (row + t * inner).update(from: emb.data + i * inner, count: inner)
            (row + (t + 1) * inner).update(from: time.data + i * inner, count: inner)
            (row + (t + 2) * inner).update(from: x.data + i * inner, count: inner)
            (row + (t + 3) * inner).update(from: prd.data, count: inner)
            for p in 0..<(seq * inner) { row[p] += positional.data[p] }
        }
        var mask: Tensor?
        if let textMask {
            // (1 − mask)·−10000 on text keys, 0 on the 4 extra keys, plus the causal −10000 above the diagonal.
            let m = Tensor(uninitialized: [b, seq, seq])
            for i in 0..<b { for q in 0..<seq { for k in 0..<seq {
                var v: Float = k > q ? -10000 : 0
                if k < t && textMask[i][k] == 0 { v += -10000 }
                m.data[(i * seq + q) * seq + k] = v
            } } }
            mask = m
        }
        for block in blocks { block(h, mask: mask) }
        let last = Tensor(uninitialized: [b, inner])
        for i in 0..<b { (last.data + i * inner).update(from: h.data + (i * seq + seq - 1) * inner, count: inner) }
        return toClip(normOut(last))
    }

    /// `latents · clip_std + clip_mean` (once, after the denoising loop).
    public func postProcess(_ latents: Tensor) -> Tensor {
        let y = Tensor(uninitialized: latents.shape), d = clipMean.count
        for i in 0..<latents.count { y.data[i] = latents.data[i] * clipStd.data[i % d] + clipMean.data[i % d] }
        return y
    }
}
