// Mirrors transformers models/clip/modeling_clip.py: CLIPVisionModelWithProjection (patch conv, class token,
// pre_layrnorm, bidirectional pre-LN transformer, post_layernorm on the class token, projection without bias).
import Foundation
import Layers
import TensorCore
import WeightIO

/// `CLIPVisionConfig` (transformers).
public struct CLIPVisionConfiguration: Codable, Sendable {
    public var hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int
    public var imageSize: Int, patchSize: Int, numChannels: Int, projectionDim: Int
    public var layerNormEps: Float, hiddenAct: String
    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", imageSize = "image_size", patchSize = "patch_size"
        case numChannels = "num_channels", projectionDim = "projection_dim", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 3072
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 224
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 32
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? 512
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
    }
}

/// `CLIPVisionModelWithProjection`: pixel values → `image_embeds` (not normalised, as the unCLIP decoder uses them).
public struct CLIPVisionModel {
    public let config: CLIPVisionConfiguration
    let patch: Conv2d
    let classEmbedding: Tensor, positionEmbedding: Tensor
    let preNorm: LayerNorm, postNorm: LayerNorm
    let layers: [CLIPEncoderLayer]
    let projection: Linear

    public struct Output {
        /// `[B, projection_dim]`
        public let imageEmbeds: Tensor
        /// `[B, 1 + patches, hidden]`, before post_layernorm.
        public let lastHiddenState: Tensor
    }

    public init(file: WeightFile, component: String = "image_encoder", precision: MatmulPrecision = .fp32) throws {
        let c = try decodeConfig(CLIPVisionConfiguration.self, try file.requireMetadata(component + ".config"), component: component)
        config = c
        let w = file.scope(component, precision: precision), v = w.scope("vision_model"), d = c.hiddenSize
        let grid = c.imageSize / c.patchSize
        patch = try Conv2d(v.scope("embeddings").scope("patch_embedding"), inChannels: c.numChannels, outChannels: d,
                           kernel: c.patchSize, stride: c.patchSize, padding: 0, bias: false)
        classEmbedding = try v.scope("embeddings").tensor("class_embedding", shape: [d])
        positionEmbedding = try v.scope("embeddings").scope("position_embedding").tensor("weight", shape: [grid * grid + 1, d])
        preNorm = try LayerNorm(v.scope("pre_layrnorm"), dim: d, eps: c.layerNormEps)
        guard let act = Activation(rawValue: c.hiddenAct) else { throw ConfigurationError("unsupported hidden_act '\(c.hiddenAct)'") }
        layers = try (0..<c.numHiddenLayers).map {
            try CLIPEncoderLayer(v.scope("encoder").scope("layers").scope($0), width: d, intermediate: c.intermediateSize,
                                 heads: c.numAttentionHeads, eps: c.layerNormEps, activation: act)
        }
        postNorm = try LayerNorm(v.scope("post_layernorm"), dim: d, eps: c.layerNormEps)
        projection = try Linear(w.scope("visual_projection"), inFeatures: d, outFeatures: c.projectionDim, bias: false)
        try w.checkAllUsed()
    }

    /// pixel values `[B, 3, image_size, image_size]` (already CLIP-normalised).
    public func callAsFunction(pixelValues: Tensor) -> Output {
        let b = pixelValues.shape[0], d = config.hiddenSize
        let p = patch(pixelValues)                                         // [B, D, g, g]
        let n = p.shape[2] * p.shape[3], l = n + 1
        let h = Tensor(uninitialized: [b, l, d])                           // [B, 1 + g², D]
        for i in 0..<b {
            let row = h.data + i * l * d
            for c in 0..<d { row[c] = classEmbedding.data[c] + positionEmbedding.data[c] }
            for t in 0..<n { for c in 0..<d {
                row[(t + 1) * d + c] = p.data[(i * d + c) * n + t] + positionEmbedding.data[(t + 1) * d + c]
            } }
        }
        let x = preNorm(h)
        for layer in layers { layer(x, causal: false) }
        let cls = Tensor(uninitialized: [b, d])
        for i in 0..<b { (cls.data + i * d).update(from: x.data + i * l * d, count: d) }
        return Output(imageEmbeds: projection(postNorm(cls)), lastHiddenState: x)
    }
}
