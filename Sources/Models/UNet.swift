// Mirrors diffusers UNet2DConditionModel (Karlo's decoder: ResnetDownsampleBlock2D, SimpleCrossAttn*Block2D,
// UNetMidBlock2DSimpleCrossAttn, class_embed_type "identity") and UNet2DModel (Karlo's super-resolution nets).
import Foundation
import Layers
import TensorCore
import WeightIO

/// A down or up stage: ResNets, optional added-KV attentions after each, optional resampling ResNet.
struct UNetStage {
    var resnets: [ResnetBlock2D]
    var attentions: [AddedKVAttention]
    var resampler: ResnetBlock2D?
}

/// Karlo's decoder (`UNet2DConditionModel`) or super-resolution net (`UNet2DModel`), built from its diffusers config.
public struct UNet {
    public let config: UNetConfiguration
    let convIn: Conv2d, convOut: Conv2d
    let time1: Linear, time2: Linear
    let down: [UNetStage], up: [UNetStage]
    let midResnets: [ResnetBlock2D]
    let midAttention: AddedKVAttention?
    let normOut: GroupNorm
    /// Whether the net takes text conditioning (the decoder) or only the image (super-resolution).
    public var isConditional: Bool { config.crossAttentionDim != nil && midAttention != nil }

    public init(file: WeightFile, component: String, precision: MatmulPrecision = .fp32) throws {
        let c = try decodeConfig(UNetConfiguration.self, try file.requireMetadata(component + ".config"), component: component)
        try self.init(file.scope(component, precision: precision), config: c)
    }

    public init(_ w: WeightScope, config c: UNetConfiguration) throws {
        config = c
        let ch = c.blockOutChannels, n = ch.count, g = c.normNumGroups, eps = c.normEps
        let temb = 4 * ch[0], ss = c.resnetTimeScaleShift == "scale_shift"
        let heads = c.attentionHeadDims ?? [Int](repeating: 64, count: n)
        guard c.downBlockTypes.count == n, c.upBlockTypes.count == n else {
            throw ConfigurationError("\(w.prefix): block type lists must have one entry per block_out_channels")
        }
        convIn = try Conv2d(w.scope("conv_in"), inChannels: c.inChannels, outChannels: ch[0], kernel: 3, padding: 1)
        time1 = try Linear(w.scope("time_embedding").scope("linear_1"), inFeatures: ch[0], outFeatures: temb)
        time2 = try Linear(w.scope("time_embedding").scope("linear_2"), inFeatures: temb, outFeatures: temb)

        func attention(_ s: WeightScope, _ channels: Int, _ headDim: Int) throws -> AddedKVAttention {
            guard let e = c.crossAttentionDim else { throw ConfigurationError("\(w.prefix): cross-attention blocks need cross_attention_dim") }
            return try AddedKVAttention(s, channels: channels, headDim: headDim, encoderDim: e, groups: g, eps: 1e-5)
        }
        var stages = [UNetStage]()
        var outCh = ch[0]
        for (i, type) in c.downBlockTypes.enumerated() {
            let inCh = outCh; outCh = ch[i]
            let s = w.scope("down_blocks").scope(i)
            let cross: Bool
            switch type {
            case "ResnetDownsampleBlock2D": cross = false
            case "SimpleCrossAttnDownBlock2D": cross = true
            default: throw ConfigurationError("\(w.prefix): down block '\(type)' is not supported")
            }
            var stage = UNetStage(resnets: [], attentions: [], resampler: nil)
            for j in 0..<c.layersPerBlock {
                stage.resnets.append(try ResnetBlock2D(s.scope("resnets").scope(j), inChannels: j == 0 ? inCh : outCh, outChannels: outCh,
                                                       tembChannels: temb, groups: g, eps: eps, scaleShift: ss))
                if cross { stage.attentions.append(try attention(s.scope("attentions").scope(j), outCh, heads[i])) }
            }
            if i < n - 1 {
                stage.resampler = try ResnetBlock2D(s.scope("downsamplers").scope(0), inChannels: outCh, outChannels: outCh,
                                                    tembChannels: temb, groups: g, eps: eps, scaleShift: ss, resample: .down)
            }
            stages.append(stage)
        }
        down = stages

        let mc = ch[n - 1], m = w.scope("mid_block")
        switch c.midBlockType ?? "UNetMidBlock2DCrossAttn" {
        case "UNetMidBlock2DSimpleCrossAttn":
            midAttention = try attention(m.scope("attentions").scope(0), mc, heads[n - 1])
        case "UNetMidBlock2D" where !c.addAttention:
            midAttention = nil
        default:
            throw ConfigurationError("\(w.prefix): mid block '\(c.midBlockType ?? "default")' (add_attention \(c.addAttention)) is not supported")
        }
        midResnets = try (0..<2).map {
            try ResnetBlock2D(m.scope("resnets").scope($0), inChannels: mc, outChannels: mc, tembChannels: temb, groups: g, eps: eps, scaleShift: ss)
        }

        stages = []
        let rev = Array(ch.reversed()), revHeads = Array(heads.reversed())
        outCh = rev[0]
        for (i, type) in c.upBlockTypes.enumerated() {
            let prev = outCh
            outCh = rev[i]
            let inCh = rev[min(i + 1, n - 1)]
            let s = w.scope("up_blocks").scope(i)
            let cross: Bool
            switch type {
            case "ResnetUpsampleBlock2D": cross = false
            case "SimpleCrossAttnUpBlock2D": cross = true
            default: throw ConfigurationError("\(w.prefix): up block '\(type)' is not supported")
            }
            var stage = UNetStage(resnets: [], attentions: [], resampler: nil)
            let layers = c.layersPerBlock + 1
            for j in 0..<layers {
                let skipCh = j == layers - 1 ? inCh : outCh, resIn = j == 0 ? prev : outCh
                stage.resnets.append(try ResnetBlock2D(s.scope("resnets").scope(j), inChannels: resIn + skipCh, outChannels: outCh,
                                                       tembChannels: temb, groups: g, eps: eps, scaleShift: ss))
                if cross { stage.attentions.append(try attention(s.scope("attentions").scope(j), outCh, revHeads[i])) }
            }
            if i < n - 1 {
                stage.resampler = try ResnetBlock2D(s.scope("upsamplers").scope(0), inChannels: outCh, outChannels: outCh,
                                                    tembChannels: temb, groups: g, eps: eps, scaleShift: ss, resample: .up)
            }
            stages.append(stage)
        }
        up = stages
        normOut = try GroupNorm(w.scope("conv_norm_out"), groups: g, channels: ch[0], eps: eps)
        convOut = try Conv2d(w.scope("conv_out"), inChannels: ch[0], outChannels: c.outChannels, kernel: 3, padding: 1)
        try w.checkAllUsed()
    }

    /// One forward pass.
    /// - Parameters:
    ///   - sample: `[B, in_channels, H, W]`.
    ///   - timestep: the original 0…999 timestep (same for the whole batch).
    ///   - classLabels: `[B, time_embed_dim]` added to the time embedding (`class_embed_type="identity"`).
    ///   - encoderHiddenStates: `[B, L, cross_attention_dim]`; `attentionMask`: B rows of L 0/1 (1 = attend).
    /// - Returns: `[B, out_channels, H, W]`.
    public func callAsFunction(sample: Tensor, timestep: Int, classLabels: Tensor? = nil, encoderHiddenStates: Tensor? = nil,
                               attentionMask: [[Int]]? = nil) -> Tensor {
        self(sample: sample, timestep: Float(timestep), classLabels: classLabels, encoderHiddenStates: encoderHiddenStates,
             attentionMask: attentionMask)
    }

    /// The same with a fractional timestep (schedulers that interpolate between training steps, e.g. Euler with linspace spacing).
    public func callAsFunction(sample: Tensor, timestep: Float, classLabels: Tensor? = nil, encoderHiddenStates: Tensor? = nil,
                               attentionMask: [[Int]]? = nil) -> Tensor {
        let b = sample.shape[0]
        let tproj = Ops.timestepEmbedding([Float](repeating: timestep, count: b), dim: config.blockOutChannels[0],
                                          flipSinToCos: config.flipSinToCos, downscaleFreqShift: config.freqShift)
        let t1 = time1(tproj)
        Ops.activation(.silu, t1, into: t1)
        let emb = time2(t1)                                                  // [B, 4·C0]
        if let classLabels { Ops.add(emb, classLabels, into: emb) }
        Ops.activation(.silu, emb, into: emb)                                // every ResNet applies SiLU to temb first
        var masks: [Int: Tensor] = [:]
        func mask(_ hw: Int) -> Tensor {
            if let m = masks[hw] { return m }
            let l = encoderHiddenStates!.shape[1]
            let m = Tensor(zeros: [b, l + hw])
            if let attentionMask { for i in 0..<b { for k in 0..<l where attentionMask[i][k] == 0 { m.data[i * (l + hw) + k] = -10000 } } }
            masks[hw] = m
            return m
        }
        func attend(_ a: AddedKVAttention, _ h: Tensor) -> Tensor {
            guard let ehs = encoderHiddenStates else { preconditionFailure("the decoder needs encoder hidden states") }
            return a(h, encoder: ehs, mask: mask(h.shape[2] * h.shape[3]))
        }
        var h = convIn(sample)
        var skips = [h]
        for stage in down {
            for (j, r) in stage.resnets.enumerated() {
                h = r(h, siluEmb: emb)
                if j < stage.attentions.count { h = attend(stage.attentions[j], h) }
                skips.append(h)
            }
            if let d = stage.resampler { h = d(h, siluEmb: emb); skips.append(h) }
        }
        h = midResnets[0](h, siluEmb: emb)
        if let a = midAttention { h = attend(a, h) }
        h = midResnets[1](h, siluEmb: emb)
        for stage in up {
            for (j, r) in stage.resnets.enumerated() {
                h = r(Ops.concat(h, skips.removeLast()), siluEmb: emb)       // cat([hidden, skip], dim=1)
                if j < stage.attentions.count { h = attend(stage.attentions[j], h) }
            }
            if let u = stage.resampler { h = u(h, siluEmb: emb) }
        }
        return convOut(normOut(h, activation: .silu))
    }
}
