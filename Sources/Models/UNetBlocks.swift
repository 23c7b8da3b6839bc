// Mirrors diffusers models/resnet.py (ResnetBlock2D with up/down resampling inside the block) and
// attention_processor.py (Attention + AttnAddedKVProcessor: GroupNorm, encoder K/V first, -10000 text mask).
import Foundation
import Layers
import TensorCore
import WeightIO

/// `ResnetBlock2D`: GN → SiLU → (resample both branches) → conv1 → time conditioning → GN → SiLU → conv2, plus skip.
struct ResnetBlock2D {
    enum Resample { case none, up, down }
    let norm1: GroupNorm, norm2: GroupNorm
    let conv1: Conv2d, conv2: Conv2d
    let timeProj: Linear
    let shortcut: Conv2d?
    let scaleShift: Bool
    let resample: Resample
    let outChannels: Int

    init(_ w: WeightScope, inChannels: Int, outChannels: Int, tembChannels: Int, groups: Int, eps: Float,
         scaleShift: Bool, resample: Resample = .none) throws {
        norm1 = try GroupNorm(w.scope("norm1"), groups: groups, channels: inChannels, eps: eps)
        conv1 = try Conv2d(w.scope("conv1"), inChannels: inChannels, outChannels: outChannels, kernel: 3, padding: 1)
        timeProj = try Linear(w.scope("time_emb_proj"), inFeatures: tembChannels, outFeatures: scaleShift ? 2 * outChannels : outChannels)
        norm2 = try GroupNorm(w.scope("norm2"), groups: groups, channels: outChannels, eps: eps)
        conv2 = try Conv2d(w.scope("conv2"), inChannels: outChannels, outChannels: outChannels, kernel: 3, padding: 1)
        shortcut = inChannels != outChannels
            ? try Conv2d(w.scope("conv_shortcut"), inChannels: inChannels, outChannels: outChannels, kernel: 1, padding: 0) : nil
        self.scaleShift = scaleShift; self.resample = resample; self.outChannels = outChannels
    }

    /// x `[B, Cin, H, W]`, `siluEmb` = SiLU(temb) `[B, T]` (shared by every block) → `[B, Cout, H', W']`.
    func callAsFunction(_ x: Tensor, siluEmb: Tensor) -> Tensor {
        var h = norm1(x, activation: .silu)                                  // [B, Cin, H, W]
        var skip = x
        switch resample {
        case .none: break
        case .up: h = Self.resampled(h, up: true); skip = Self.resampled(x, up: true)
        case .down: h = Self.resampled(h, up: false); skip = Self.resampled(x, up: false)
        }
        h = conv1(h)                                                         // [B, Cout, H', W']
        let e = timeProj(siluEmb)                                            // [B, Cout] or [B, 2·Cout]
        let b = h.shape[0], c = outChannels
        if scaleShift {
            let scale = Tensor(uninitialized: [b, c]), shift = Tensor(uninitialized: [b, c])
            for i in 0..<b {
                (scale.data + i * c).update(from: e.data + i * 2 * c, count: c)
                (shift.data + i * c).update(from: e.data + i * 2 * c + c, count: c)
            }
            h = norm2(h, scale: scale, shift: shift, activation: .silu)
        } else {
            let plane = h.count / (b * c)
            for i in 0..<(b * c) {
                let v = e.data[i], p = h.data + i * plane
                for j in 0..<plane { p[j] += v }
            }
            h = norm2(h, activation: .silu)
        }
        h = conv2(h)
        let s = shortcut.map { $0(skip) } ?? skip
        Ops.add(s, h, into: h)
        return h
    }

    static func resampled(_ x: Tensor, up: Bool) -> Tensor {
        let n = x.shape[0], c = x.shape[1], hh = x.shape[2], ww = x.shape[3]
        if up {
            let y = Tensor(uninitialized: [n, c, 2 * hh, 2 * ww]); Ops.upsampleNearest2x(x, into: y); return y
        }
        let y = Tensor(uninitialized: [n, c, hh / 2, ww / 2]); Ops.avgPool2x2(x, into: y); return y
    }
}

/// `Attention` with `AttnAddedKVProcessor`: self-attention over GN(x) whose keys/values are prefixed by
/// projections of the encoder states (`add_k_proj`, `add_v_proj`), then `to_out` and the residual.
struct AddedKVAttention {
    let norm: GroupNorm
    let q: Linear, k: Linear, v: Linear, addK: Linear, addV: Linear, out: Linear
    let heads: Int, headDim: Int

    init(_ w: WeightScope, channels: Int, headDim: Int, encoderDim: Int, groups: Int, eps: Float) throws {
        norm = try GroupNorm(w.scope("group_norm"), groups: groups, channels: channels, eps: eps)
        q = try Linear(w.scope("to_q"), inFeatures: channels, outFeatures: channels)
        k = try Linear(w.scope("to_k"), inFeatures: channels, outFeatures: channels)
        v = try Linear(w.scope("to_v"), inFeatures: channels, outFeatures: channels)
        addK = try Linear(w.scope("add_k_proj"), inFeatures: encoderDim, outFeatures: channels)
        addV = try Linear(w.scope("add_v_proj"), inFeatures: encoderDim, outFeatures: channels)
        out = try Linear(w.scope("to_out").scope(0), inFeatures: channels, outFeatures: channels)
        heads = channels / headDim; self.headDim = headDim
    }

    /// x `[B, C, H, W]`; `encoder` `[B, L, E]`; `mask` `[B, L + HW]` additive (text keys first). Returns x + attention.
    func callAsFunction(_ x: Tensor, encoder: Tensor, mask: Tensor) -> Tensor {
        let b = x.shape[0], c = x.shape[1], hw = x.count / (b * c), l = encoder.shape[1]
        let tokens = Self.toTokens(norm(x))                                  // [B, HW, C]
        let qs = q(tokens)
        let ek = addK(encoder), ev = addV(encoder)                           // [B, L, C]
        let ks = Ops.concat(ek, k(tokens)), vs = Ops.concat(ev, v(tokens))   // [B, L + HW, C]: encoder keys first
        let a = Tensor(uninitialized: [b, hw, c])
        Ops.attention(q: AttentionOperand(qs), k: AttentionOperand(ks), v: AttentionOperand(vs), batch: b, heads: heads,
                      headDim: headDim, mask: .perKey(mask), into: a)
        precondition(mask.shape == [b, l + hw], "attention mask \(mask.shape) for \(l) + \(hw) keys")
        let y = Self.toChannels(out(a), like: x)                             // [B, C, H, W]
        Ops.add(y, x, into: y)
        return y
    }

    static func toTokens(_ x: Tensor) -> Tensor {
        let b = x.shape[0], c = x.shape[1], hw = x.count / (b * c)
        let y = Tensor(uninitialized: [b, hw, c])
        for i in 0..<b { transpose(x.data + i * c * hw, rows: c, cols: hw, into: y.data + i * c * hw) }
        return y
    }

    static func toChannels(_ t: Tensor, like x: Tensor) -> Tensor {
        let b = t.shape[0], hw = t.shape[1], c = t.shape[2]
        let y = Tensor(uninitialized: x.shape)
        for i in 0..<b { transpose(t.data + i * c * hw, rows: hw, cols: c, into: y.data + i * c * hw) }
        return y
    }

    /// Blocked out-of-place transpose of a row-major `[rows, cols]` matrix.
    static func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
        let tile = 32
        Threading.parallelRanges((rows + tile - 1) / tile) { r in
            for rb in r {
                let r0 = rb * tile, r1 = min(rows, r0 + tile)
                var c0 = 0
                while c0 < cols {
                    let c1 = min(cols, c0 + tile)
                    for i in r0..<r1 { for j in c0..<c1 { dst[j * rows + i] = src[i * cols + j] } }
                    c0 = c1
                }
            }
        }
    }
}
