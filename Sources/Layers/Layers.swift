// Basic layers as structs that load their own weights (keys = exported tensor names, shapes checked), in
// the style of candle's `linear(vs, …)`; PyTorch's nn.Linear / nn.LayerNorm / nn.GroupNorm / nn.Conv2d.
import TensorCore
import WeightIO

/// `nn.Linear`: weight `[out, in]` (PyTorch layout, no transpose), optional bias `[out]`.
public struct Linear {
    public let weight: Tensor
    public let bias: Tensor?
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// Loads `weight` (and `bias` when `bias` is true) from `w`.
    public init(_ w: WeightScope, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try w.tensor("bias", shape: [outFeatures]) : nil
    }

    /// `[…, in]` → `[…, out]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.linear(x, weight: weight, bias: bias) }

    /// Into a caller-owned output.
    public func callAsFunction(_ x: Tensor, into y: Tensor) { Ops.linear(x, weight: weight, bias: bias, into: y) }
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

/// `nn.Conv2d` (groups 1): weight `[out, in, k, k]`, optional bias.
public struct Conv2d {
    public let weight: Tensor
    public let bias: Tensor?
    public let geometry: ConvGeometry
    public var outChannels: Int { weight.shape[0] }

    public init(_ w: WeightScope, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? try w.tensor("bias", shape: [outChannels]) : nil
        geometry = ConvGeometry(kernel: kernel, stride: stride, padding: padding)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Ops.conv2d(x, weight: weight, bias: bias, geometry: geometry) }
}

/// `nn.Embedding`: a `[count, dim]` table.
public struct Embedding {
    public let table: Tensor
    public init(_ w: WeightScope, count: Int, dim: Int) throws { table = try w.tensor("weight", shape: [count, dim]) }
    public func callAsFunction(_ ids: [Int]) -> Tensor { Ops.embeddingLookup(table, ids: ids) }
}
