// Mirrors diffusers' beta tables (betas_for_alpha_bar, torch.linspace betas, `alphas_cumprod = torch.cumprod(1 - betas)`),
// the numpy arithmetic behind `set_timesteps` (np.linspace, np.arange, np.round), bit for bit on CPU, and the few torch
// tensor expressions the `step` functions use (`torch.split` along dim 1, clamp, a·x + b·y), in PyTorch's operation order.
import Foundation
import TensorCore

/// The training chain: β_t, α_t = 1 − β_t and ᾱ_t = Π_{s≤t} α_s, as the Float32 tensors diffusers stores.
///
/// Precision follows PyTorch on CPU: the cosine schedule is computed in Python doubles and rounded once;
/// `torch.linspace` runs in Float with a fused multiply-add per element (from both ends towards the
/// middle); `torch.cumprod` on Float accumulates in **double** and rounds each prefix product to Float.
public struct NoiseSchedule: Sendable, Equatable {
    /// β_t, t = 0 … T−1.
    public let betas: [Float]
    /// α_t = 1 − β_t (Float subtraction).
    public let alphas: [Float]
    /// ᾱ_t.
    public let alphasCumprod: [Float]

    /// Builds the table for `count` training steps. `trainedBetas` (diffusers' `trained_betas`) wins over `schedule`.
    public init(count: Int, schedule: BetaSchedule, betaStart: Double, betaEnd: Double, trainedBetas: [Double]? = nil) {
        if let trained = trainedBetas {
            betas = trained.map { Float($0) }
        } else {
            switch schedule {
            case .linear:
                betas = NoiseSchedule.torchLinspace(Float(betaStart), Float(betaEnd), count)
            case .scaledLinear:
                // Python `beta_start**0.5` is libm pow, then torch squares the Float32 tensor.
                betas = NoiseSchedule.torchLinspace(Float(pow(betaStart, 0.5)), Float(pow(betaEnd, 0.5)), count).map { $0 * $0 }
            case .squaredcosCapV2:
                betas = NoiseSchedule.cosineBetas(count)
            }
        }
        alphas = betas.map { 1 - $0 }
        var acc = 1.0
        alphasCumprod = alphas.map { a in
            acc *= Double(a)
            return Float(acc)
        }
    }

    /// diffusers `betas_for_alpha_bar(T, max_beta=0.999, "cosine")`: ᾱ(τ) = cos((τ + 0.008)/1.008 · π/2)².
    static func cosineBetas(_ count: Int) -> [Float] {
        func alphaBar(_ t: Double) -> Double { pow(cos((t + 0.008) / 1.008 * Double.pi / 2), 2) }
        return (0..<count).map { i in
            let t1 = Double(i) / Double(count), t2 = Double(i + 1) / Double(count)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
        }
    }

    /// `torch.linspace(start, end, steps, dtype=float32)` on CPU (RangeFactoriesKernel.cpp, serial kernel):
    /// step = (end − start)/(steps − 1) in Float; the first half is start + step·i, the second end − step·(steps−1−i),
    /// each a single fused multiply-add.
    static func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        guard steps > 1 else { return steps == 1 ? [start] : [] }
        let step = (end - start) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in
            i < halfway ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(steps - i - 1))
        }
    }
}

/// numpy arithmetic used by `set_timesteps`, reproduced exactly (float64).
enum NumPy {
    /// `np.round` / `ndarray.round()`: round half to even (Swift's `.rounded()` would round half away from zero).
    static func round(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }

    /// `np.linspace(start, stop, num)` (endpoint=True): `i·step + start`, last element exactly `stop`.
    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        guard num > 1 else { return num == 1 ? [start] : [] }
        let step = (stop - start) / Double(num - 1)
        var y = (0..<num).map { Double($0) * step + start }
        y[num - 1] = stop
        return y
    }

    /// `np.arange(start, stop, step)` for floats: length ⌈(stop − start)/step⌉, then numpy's fill:
    /// y₀ = start, y₁ = start + step, yᵢ = start + i·(y₁ − y₀).
    static func arange(_ start: Double, _ stop: Double, _ step: Double) -> [Double] {
        let length = Int(((stop - start) / step).rounded(.up))
        guard length > 0 else { return [] }
        var y = [start]
        if length > 1 {
            let second = start + step
            y.append(second)
            let delta = second - start
            for i in 2..<length { y.append(start + Double(i) * delta) }
        }
        return y
    }

    /// `np.interp(x, arange(len(fp)), fp)` for x within [0, len−1] (numpy's `slope·(x − xⱼ) + fpⱼ`).
    static func interpAtIndices(_ x: Double, _ fp: [Double]) -> Double {
        let last = fp.count - 1
        if x >= Double(last) { return fp[last] }
        if x <= 0 { return fp[0] }
        let j = Int(x.rounded(.down))
        if x == Double(j) { return fp[j] }
        let slope = (fp[j + 1] - fp[j]) / 1.0
        return slope * (x - Double(j)) + fp[j]
    }
}

/// The three timestep layouts shared by DDIM, DDPM and Euler (diffusers `set_timesteps`), as doubles
/// before each scheduler's own cast.
enum TimestepLayout {
    /// DDIM/DDPM/Euler layouts for `count` steps over `train` training steps.
    static func values(_ spacing: TimestepSpacing, count: Int, train: Int, stepsOffset: Int) -> [Double] {
        switch spacing {
        case .linspace:
            return NumPy.linspace(0, Double(train - 1), count).map(NumPy.round).reversed()
        case .leading:
            let ratio = train / count
            return (0..<count).reversed().map { Double($0 * ratio + stepsOffset) }
        case .trailing:
            return NumPy.arange(Double(train), 0, -(Double(train) / Double(count))).map { NumPy.round($0) - 1 }
        }
    }
}

enum SchedulerMath {
    /// `torch.split(output, channels, dim=1)` for a `[B, 2C, …]` tensor: the first C channels and the rest (copies).
    static func splitChannels(_ output: Tensor, first channels: Int) -> (Tensor, Tensor) {
        precondition(output.rank >= 2 && output.shape[1] >= channels, "cannot split \(output.shape) after \(channels) channels")
        let batch = output.shape[0], total = output.shape[1]
        let inner = output.shape.dropFirst(2).reduce(1, *)
        var headShape = output.shape, tailShape = output.shape
        headShape[1] = channels
        tailShape[1] = total - channels
        let head = Tensor(uninitialized: headShape), tail = Tensor(uninitialized: tailShape)
        let headRow = channels * inner, tailRow = (total - channels) * inner
        for b in 0..<batch {
            let src = output.data + b * total * inner
            (head.data + b * headRow).update(from: src, count: headRow)
            (tail.data + b * tailRow).update(from: src + headRow, count: tailRow)
        }
        return (head, tail)
    }

    /// Splits off learned-variance channels when `output` has twice the channels of `sample` (dimension 1).
    /// Returns the prediction part and, if split, the variance part.
    static func splitLearnedVariance(_ output: Tensor, like sample: Tensor) -> (Tensor, Tensor?) {
        guard output.shape != sample.shape, output.rank >= 2, sample.rank == output.rank,
              output.shape[1] == 2 * sample.shape[1] else { return (output, nil) }
        let (prediction, variance) = splitChannels(output, first: sample.shape[1])
        return (prediction, variance)
    }

    /// A new tensor with `f` applied element-wise.
    @inline(__always)
    static func map(_ a: Tensor, _ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { out.data[i] = f(a.data[i]) }
        return out
    }

    /// A new tensor with `f` applied element-wise to two tensors of the same shape.
    @inline(__always)
    static func zip(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape, "shape mismatch \(a.shape) vs \(b.shape)")
        let out = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { out.data[i] = f(a.data[i], b.data[i]) }
        return out
    }

    /// A new tensor with `f` applied element-wise to three tensors of the same shape.
    @inline(__always)
    static func zip3(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ f: (Float, Float, Float) -> Float) -> Tensor {
        precondition(a.shape == b.shape && b.shape == c.shape, "shape mismatch \(a.shape), \(b.shape), \(c.shape)")
        let out = Tensor(uninitialized: a.shape)
        for i in 0..<a.count { out.data[i] = f(a.data[i], b.data[i], c.data[i]) }
        return out
    }

    /// `x.clamp(-range, range)` (torch.clamp: NaN stays NaN).
    static func clamp(_ x: Tensor, _ range: Float) -> Tensor {
        map(x) { v in v.isNaN ? v : min(max(v, -range), range) }
    }

    /// Per-batch-element coefficients broadcast over the remaining dimensions (`add_noise`).
    static func perBatch(_ values: [Int], batch: Int, _ f: (Int) -> Float) -> [Float] {
        precondition(values.count == batch || values.count == 1, "\(values.count) timesteps for a batch of \(batch)")
        return (0..<batch).map { f(values.count == 1 ? values[0] : values[$0]) }
    }

    /// `a[b] · x + c[b] · noise`, with one (a, c) pair per batch element (DDPM-family `add_noise`).
    static func addNoise(_ x: Tensor, _ noise: Tensor, a: [Float], c: [Float]) -> Tensor {
        precondition(x.shape == noise.shape, "noise \(noise.shape) does not match \(x.shape)")
        let out = Tensor(uninitialized: x.shape)
        let batch = x.shape.first ?? 1, inner = x.count / max(batch, 1)
        for b in 0..<batch {
            for i in b * inner..<(b + 1) * inner { out.data[i] = a[b] * x.data[i] + c[b] * noise.data[i] }
        }
        return out
    }
}
