// transformers CLIPTextConfig / CLIPVisionConfig fields used by the towers (config.json keys).
import Foundation
import TensorCore

/// A model config problem, naming the component and field.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Decodes a component config stored as `<component>.config` metadata.
func decodeConfig<T: Decodable>(_ type: T.Type, _ json: String, component: String) throws -> T {
    do { return try JSONDecoder().decode(T.self, from: Data(json.utf8)) } catch {
        throw ConfigurationError("\(component) config is invalid: \(error)")
    }
}

/// `CLIPTextConfig` (transformers).
public struct CLIPTextConfiguration: Codable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var layerNormEps: Float
    public var projectionDim: Int
    public var eosTokenID: Int

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings", hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps", projectionDim = "projection_dim", eosTokenID = "eos_token_id"
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 49408
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 512
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 2048
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 8
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 77
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? 512
        eosTokenID = try c.decodeIfPresent(Int.self, forKey: .eosTokenID) ?? 2
    }

    /// The activation named by `hidden_act`.
    public func activation() throws -> Activation {
        guard let a = Activation(rawValue: hiddenAct) else { throw ConfigurationError("unsupported hidden_act '\(hiddenAct)'") }
        return a
    }
}
