// Mirrors transformers models/clip/modeling_clip.py: CLIPTextModelWithProjection (causal pre-LN transformer,
// final LayerNorm, EOS pooling, projection without bias). Output is NOT L2-normalised (as diffusers uses it).
import Layers
import TensorCore
import WeightIO

/// One pre-LN transformer layer of the CLIP towers (`CLIPEncoderLayer`).
struct CLIPEncoderLayer {
    let norm1: LayerNorm, norm2: LayerNorm
    let q: Linear, k: Linear, v: Linear, out: Linear
    let fc1: Linear, fc2: Linear
    let heads: Int
    let activation: Activation

    init(_ w: WeightScope, width: Int, intermediate: Int, heads: Int, eps: Float, activation: Activation) throws {
        norm1 = try LayerNorm(w.scope("layer_norm1"), dim: width, eps: eps)
        norm2 = try LayerNorm(w.scope("layer_norm2"), dim: width, eps: eps)
        let a = w.scope("self_attn")
        q = try Linear(a.scope("q_proj"), inFeatures: width, outFeatures: width)
        k = try Linear(a.scope("k_proj"), inFeatures: width, outFeatures: width)
        v = try Linear(a.scope("v_proj"), inFeatures: width, outFeatures: width)
        out = try Linear(a.scope("out_proj"), inFeatures: width, outFeatures: width)
        fc1 = try Linear(w.scope("mlp").scope("fc1"), inFeatures: width, outFeatures: intermediate)
        fc2 = try Linear(w.scope("mlp").scope("fc2"), inFeatures: intermediate, outFeatures: width)
        self.heads = heads; self.activation = activation
    }

    /// h `[B, T, W]` updated in place.
    func callAsFunction(_ h: Tensor, causal: Bool) {
        let b = h.shape[0], width = h.shape[2]
        let x = norm1(h)                                           // [B, T, W]
        let qs = q(x), ks = k(x), vs = v(x)                        // [B, T, W] each
        let a = Tensor(uninitialized: h.shape)
        Ops.attention(q: AttentionOperand(qs), k: AttentionOperand(ks), v: AttentionOperand(vs), batch: b,
                      heads: heads, headDim: width / heads, causal: causal, into: a)
        Ops.add(h, out(a), into: h)                                // residual
        let m = fc1(norm2(h))                                      // [B, T, 4W]
        Ops.activation(activation, m, into: m)
        Ops.add(h, fc2(m), into: h)
    }
}

/// `CLIPTextModelWithProjection`.
public struct CLIPTextModel {
    public let config: CLIPTextConfiguration
    let tokenEmbedding: Embedding, positionEmbedding: Tensor
    let layers: [CLIPEncoderLayer]
    let finalNorm: LayerNorm
    let projection: Linear

    /// The encoder outputs the unCLIP pipeline uses.
    public struct Output {
        /// `[B, projection_dim]`: `text_projection(final_layer_norm(h)[EOS])`.
        public let textEmbeds: Tensor
        /// `[B, T, hidden]`: the sequence after the final LayerNorm.
        public let lastHiddenState: Tensor
    }

    /// Loads `text_encoder.*` from `file`; every tensor of the component must be used.
    public init(file: WeightFile, component: String = "text_encoder", precision: MatmulPrecision = .fp32) throws {
        let c = try decodeConfig(CLIPTextConfiguration.self, try file.requireMetadata(component + ".config"), component: component)
        try self.init(file.scope(component, precision: precision), config: c)
    }

    public init(_ w: WeightScope, config c: CLIPTextConfiguration) throws {
        config = c
        let t = w.scope("text_model")
        tokenEmbedding = try Embedding(t.scope("embeddings").scope("token_embedding"), count: c.vocabSize, dim: c.hiddenSize)
        positionEmbedding = try t.scope("embeddings").scope("position_embedding").tensor("weight", shape: [c.maxPositionEmbeddings, c.hiddenSize])
        let act = try c.activation()
        layers = try (0..<c.numHiddenLayers).map {
            try CLIPEncoderLayer(t.scope("encoder").scope("layers").scope($0), width: c.hiddenSize, intermediate: c.intermediateSize,
                                 heads: c.numAttentionHeads, eps: c.layerNormEps, activation: act)
        }
        finalNorm = try LayerNorm(t.scope("final_layer_norm"), dim: c.hiddenSize, eps: c.layerNormEps)
        projection = try Linear(w.scope("text_projection"), inFeatures: c.hiddenSize, outFeatures: c.projectionDim, bias: false)
        try w.checkAllUsed()
    }

    /// Encodes `ids` (`B` rows of equal length ≤ max_position_embeddings). No attention mask is applied beyond
    /// the causal one, exactly as diffusers calls the text encoder.
    public func callAsFunction(ids: [[Int]]) -> Output {
        let b = ids.count, tLen = ids[0].count, width = config.hiddenSize
        precondition(ids.allSatisfy { $0.count == tLen } && tLen <= config.maxPositionEmbeddings, "CLIP: bad id rows")
        let h = tokenEmbedding(ids.flatMap { $0 }).reshaped([b, tLen, width])       // [B, T, W]
        for i in 0..<b {
            let row = h.data + i * tLen * width
            for p in 0..<(tLen * width) { row[p] += positionEmbedding.data[p] }
        }
        for layer in layers { layer(h, causal: true) }
        let last = finalNorm(h)                                                      // [B, T, W]
        let pooled = Tensor(uninitialized: [b, width])
        for i in 0..<b {
            let pos = poolingPosition(ids[i])
            (pooled.data + i * width).update(from: last.data + (i * tLen + pos) * width, count: width)
        }
        return Output(textEmbeds: projection(pooled), lastHiddenState: last)
    }

    /// transformers' rule: legacy configs (`eos_token_id == 2`) pool at argmax(ids) (first maximum),
    /// others at the first position equal to `eos_token_id`.
    func poolingPosition(_ row: [Int]) -> Int {
        if config.eosTokenID == 2 {
            var best = 0
            for (i, v) in row.enumerated() where v > row[best] { best = i }
            return best
        }
        return row.firstIndex(of: config.eosTokenID) ?? 0
    }
}
