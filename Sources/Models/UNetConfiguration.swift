// diffusers UNet2DConditionModel / UNet2DModel config fields used by Karlo's decoder and super-resolution nets.
import Foundation

/// A UNet config (`config.json` keys of `UNet2DConditionModel` and `UNet2DModel`).
public struct UNetConfiguration: Decodable, Sendable {
    public var inChannels: Int, outChannels: Int
    public var blockOutChannels: [Int]
    public var layersPerBlock: Int
    public var downBlockTypes: [String], upBlockTypes: [String]
    public var midBlockType: String?
    public var normNumGroups: Int, normEps: Float
    public var flipSinToCos: Bool, freqShift: Float
    public var resnetTimeScaleShift: String
    public var attentionHeadDims: [Int]?
    public var crossAttentionDim: Int?
    public var classEmbedType: String?
    public var addAttention: Bool
    public var sampleSize: Int?
    public var actFn: String
    /// `_class_name`: `UNet2DConditionModel` (decoder) or `UNet2DModel` (super-resolution); defaults differ.
    public var className: String

    enum K: String, CodingKey {
        case className = "_class_name"
        case inChannels = "in_channels", outChannels = "out_channels", blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block", downBlockTypes = "down_block_types", upBlockTypes = "up_block_types"
        case midBlockType = "mid_block_type", normNumGroups = "norm_num_groups", normEps = "norm_eps"
        case flipSinToCos = "flip_sin_to_cos", freqShift = "freq_shift", resnetTimeScaleShift = "resnet_time_scale_shift"
        case attentionHeadDim = "attention_head_dim", crossAttentionDim = "cross_attention_dim"
        case classEmbedType = "class_embed_type", addAttention = "add_attention", sampleSize = "sample_size", actFn = "act_fn"
        case timeEmbeddingType = "time_embedding_type", addAdditionEmbedType = "addition_embed_type"
        case onlyCrossAttention = "only_cross_attention", centerInputSample = "center_input_sample"
        case midBlockScaleFactor = "mid_block_scale_factor", crossAttentionNorm = "cross_attention_norm"
        case resnetOutScaleFactor = "resnet_out_scale_factor", resnetSkipTimeAct = "resnet_skip_time_act"
        case timeEmbeddingDim = "time_embedding_dim", encoderHidDim = "encoder_hid_dim", timeCondProjDim = "time_cond_proj_dim"
        case downsampleType = "downsample_type", upsampleType = "upsample_type"
    }

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: K.self)
        inChannels = try c.decode(Int.self, forKey: .inChannels)
        outChannels = try c.decode(Int.self, forKey: .outChannels)
        blockOutChannels = try c.decode([Int].self, forKey: .blockOutChannels)
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? 2
        downBlockTypes = try c.decode([String].self, forKey: .downBlockTypes)
        upBlockTypes = try c.decode([String].self, forKey: .upBlockTypes)
        className = try c.decodeIfPresent(String.self, forKey: .className) ?? "UNet2DConditionModel"
        // diffusers' class defaults when the key is absent (Karlo's published super-res config omits it).
        midBlockType = try c.decodeIfPresent(String.self, forKey: .midBlockType)
            ?? (className == "UNet2DModel" ? "UNetMidBlock2D" : "UNetMidBlock2DCrossAttn")
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? 32
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? 1e-5
        flipSinToCos = try c.decodeIfPresent(Bool.self, forKey: .flipSinToCos) ?? true
        freqShift = try c.decodeIfPresent(Float.self, forKey: .freqShift) ?? 0
        resnetTimeScaleShift = try c.decodeIfPresent(String.self, forKey: .resnetTimeScaleShift) ?? "default"
        if let one = try? c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) {
            attentionHeadDims = [Int](repeating: one, count: blockOutChannels.count)
        } else {
            attentionHeadDims = try c.decodeIfPresent([Int].self, forKey: .attentionHeadDim)
        }
        crossAttentionDim = try? c.decodeIfPresent(Int.self, forKey: .crossAttentionDim)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        addAttention = try c.decodeIfPresent(Bool.self, forKey: .addAttention) ?? true
        sampleSize = try? c.decodeIfPresent(Int.self, forKey: .sampleSize)
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? "silu"
        // Options Karlo does not use: refuse rather than silently compute something else.
        func require<T: Decodable & Equatable>(_ key: K, _ allowed: [T?], _ type: T.Type) throws {
            if let v = (try? c.decodeIfPresent(T.self, forKey: key)) ?? nil, !allowed.contains(v) {
                throw ConfigurationError("UNet option \(key.rawValue)=\(v) is not supported")
            }
        }
        try require(.timeEmbeddingType, ["positional", nil], String.self)
        try require(.addAdditionEmbedType, [nil], String.self)
        try require(.onlyCrossAttention, [false, nil], Bool.self)
        try require(.centerInputSample, [false, nil], Bool.self)
        try require(.midBlockScaleFactor, [1, nil], Float.self)
        try require(.crossAttentionNorm, [nil], String.self)
        try require(.resnetOutScaleFactor, [1, nil], Float.self)
        try require(.resnetSkipTimeAct, [false, nil], Bool.self)
        try require(.timeEmbeddingDim, [nil], Int.self)
        try require(.encoderHidDim, [nil], Int.self)
        try require(.timeCondProjDim, [nil], Int.self)
        try require(.downsampleType, ["conv", nil], String.self)
        try require(.upsampleType, ["conv", nil], String.self)
        guard actFn == "silu" else { throw ConfigurationError("UNet act_fn '\(actFn)' is not supported") }
        guard ["default", "scale_shift"].contains(resnetTimeScaleShift) else {
            throw ConfigurationError("UNet resnet_time_scale_shift '\(resnetTimeScaleShift)' is not supported")
        }
        guard classEmbedType == nil || classEmbedType == "identity" else {
            throw ConfigurationError("UNet class_embed_type '\(classEmbedType!)' is not supported")
        }
    }
}
