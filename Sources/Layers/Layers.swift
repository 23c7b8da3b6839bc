// Basic layers as structs that load their own weights (keys = exported tensor names, shapes checked), in
// the style of candle's `linear(vs, …)`; PyTorch's nn.Linear / nn.LayerNorm / nn.GroupNorm / nn.Conv2d.
import TensorCore
import WeightIO

/// A matmul weight in the precision its scope asked for: fp32 as stored, or rounded to bf16 and packed once.
public enum MatmulWeights {
    case fp32(Tensor)
    case bf16(PackedBF16)

    /// Smallest K and output width that go to the bf16 kernels; thinner layers (the first and last convolutions,
    /// 3–6 channels) stay fp32, as oneDNN and Karlo keep them.
    public static let bf16MinimumSide = 32
}

/// `nn.Linear`: weight `[out, in]` (PyTorch layout, no transpose), optional bias `[out]`; bf16 scopes pack it as the
/// right operand of the bf16 GEMM.
public struct Linear {
    public let weights: MatmulWeights
    public let bias: Tensor?
    public let inFeatures: Int, outFeatures: Int

    /// Loads `weight` (and `bias` when `bias` is true) from `w`.
    public init(_ w: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        let side = MatmulWeights.bf16MinimumSide
        if w.precision == .bf16 && inFeatures >= side && outFeatures >= side {
            weights = .bf16(try w.packedBF16("weight", shape: [outFeatures, inFeatures], width: PackedBF16.bWidth))
        } else {
            weights = .fp32(try w.tensor("weight", shape: [outFeatures, inFeatures]))
        }
        self.bias = bias ? try w.tensor("bias", shape: [outFeatures]) : nil
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
    }

    /// `[…, in]` → `[…, out]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
        callAsFunction(x, into: y)
        return y
    }

    /// Into a caller-owned output.
    public func callAsFunction(_ x: Tensor, into y: Tensor) {
        switch weights {
        case .fp32(let weight): Ops.linear(x, weight: weight, bias: bias, into: y)
        case .bf16(let packed): Ops.linear(x, packed: packed, bias: bias, into: y)
        }
    }
}

/// `nn.LayerNorm` over the last dimension.
public struct LayerNorm {
    public let weight: Tensor, bias: Tensor
    public let eps: Float

    public init(_ w: WeightScope, dim: Int, eps: Float) throws {
        weight = try w.tensor("weight", shape: [dim])
        bias = try w.tensor("bias", shape: [dim])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        Ops.layerNorm(x, weight: weight, bias: bias, eps: eps, into: y)
        return y
    }
}

/// `nn.GroupNorm` (affine) with the fused scale-shift / activation options of `Ops.groupNorm`.
public struct GroupNorm {
    public let weight: Tensor, bias: Tensor
    public let groups: Int
    public let eps: Float

    public init(_ w: WeightScope, groups: Int, channels: Int, eps: Float) throws {
        weight = try w.tensor("weight", shape: [channels])
        bias = try w.tensor("bias", shape: [channels])
        self.groups = groups; self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, scale: Tensor? = nil, shift: Tensor? = nil, activation: Activation? = nil) -> Tensor {
        let y = Tensor(uninitialized: x.shape)
        Ops.groupNorm(x, groups: groups, eps: eps, weight: weight, bias: bias, scale: scale, shift: shift, activation: activation, into: y)
        return y
    }
}

/// `nn.Conv2d` (groups 1): weight `[out, in, k, k]`, optional bias; bf16 scopes pack it as the left operand of
/// the bf16 GEMM.
public struct Conv2d {
    public let weights: MatmulWeights
    public let bias: Tensor?
    public let geometry: ConvGeometry
    public let outChannels: Int

    public init(_ w: WeightScope, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int, bias: Bool = true) throws {
        let shape = [outChannels, inChannels, kernel, kernel], side = MatmulWeights.bf16MinimumSide
        if w.precision == .bf16 && inChannels * kernel * kernel >= side && outChannels >= side {
            weights = .bf16(try w.packedBF16("weight", shape: shape, width: PackedBF16.aWidth))
        } else {
            weights = .fp32(try w.tensor("weight", shape: shape))
        }
        self.bias = bias ? try w.tensor("bias", shape: [outChannels]) : nil
        geometry = ConvGeometry(kernel: kernel, stride: stride, padding: padding)
        self.outChannels = outChannels
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitialized: [x.shape[0], outChannels, geometry.outSize(x.shape[2]), geometry.outSize(x.shape[3])])
        switch weights {
        case .fp32(let weight): Ops.conv2d(x, weight: weight, bias: bias, geometry: geometry, into: y)
        case .bf16(let packed): Ops.conv2d(x, packed: packed, bias: bias, geometry: geometry, into: y)
        }
        return y
    }
}

/// `nn.Embedding`: a `[count, dim]` table.
public struct Embedding {
    public let table: Tensor
    public init(_ w: WeightScope, count: Int, dim: Int) throws { table = try w.tensor("weight", shape: [count, dim]) }
    public func callAsFunction(_ ids: [Int]) -> Tensor { Ops.embeddingLookup(table, ids: ids) }
}
