// Mirrors the per-stage loop of diffusers pipeline_unclip.py (`prepare_latents`, `for i, t in enumerate(self.progress_bar(
// timesteps))`, CFG, `scheduler.step(...)`) for any diffusers-style scheduler (scale_model_input, init_noise_sigma), and
// diffusers/utils/torch_utils.py `randn_tensor` (one generator for the batch, or a list: row i from generator i).
import Foundation
import Random
import Schedulers
import TensorCore

/// One stage's denoising loop over the row groups of a batch (``RowGroups``): initial noise, then
/// model → scheduler step for each timestep, with progress, cancellation, previews and tracing between steps.
struct DenoisingLoop {
    let stage: Stage
    /// The stage's name in traces and golden files (`prior`, `decoder`, `super_res`).
    let traceName: String
    let hooks: PipelineHooks
    /// Whether this stage offers x̂₀ previews (decoder and super-res).
    let previews: Bool

    init(_ stage: Stage, hooks: PipelineHooks) {
        self.stage = stage
        self.hooks = hooks
        traceName = stage == .superRes ? "super_res" : stage.rawValue
        previews = stage != .prior
    }

    /// A scheduler ready for `options.steps` steps: the one given, or the weights file's for this stage.
    static func prepare(_ options: StageOptions, _ stage: Stage, weights: UnCLIPWeights) throws -> any Scheduler {
        guard options.steps >= 1 else {
            throw PipelineError.invalidRequest("\(stage.rawValue) steps must be at least 1, got \(options.steps)")
        }
        guard options.guidanceScale.isFinite else {
            throw PipelineError.invalidRequest("\(stage.rawValue) guidance scale must be a finite number")
        }
        var scheduler = try options.scheduler ?? weights.makeScheduler(for: stage)
        do { try scheduler.setTimesteps(options.steps) } catch {
            throw PipelineError.invalidRequest("\(stage.rawValue) stage: \(error)")
        }
        return scheduler
    }

    /// Runs the loop for every group from `prepared` (a scheduler after `setTimesteps`, copied per group so
    /// multistep histories never mix).
    ///
    /// - Parameters:
    ///   - shape: the latents' shape without the batch dimension (`[D]`, `[3, S, S]`).
    ///   - model: `(scaled x_t of group g, model timestep, step index, g) → output` handed to `scheduler.step`
    ///     (already guided, and carrying the predicted-variance channels where the model has them).
    /// - Returns: each group's last `prev_sample`.
    func run(_ prepared: any Scheduler, shape: [Int], groups: inout RowGroups,
             model: (Tensor, Float, Int, Int) throws -> Tensor) throws -> [Tensor] {
        var schedulers = [any Scheduler](repeating: prepared, count: groups.count)
        // prepare_latents: one batch-shaped N(0, 1) draw per generator, times init_noise_sigma.
        var xs: [Tensor] = groups.ranges.indices.map { g in
            let x = groups.randoms[g].randn([groups.ranges[g].count] + shape)
            let sigma = prepared.initNoiseSigma
            if sigma != 1 { for i in 0..<x.count { x.data[i] *= sigma } }
            return x
        }
        trace("\(traceName).x", xs)
        let timesteps = prepared.timesteps, modelTimesteps = prepared.modelTimesteps
        let start = DispatchTime.now().uptimeNanoseconds
        // Each step allocates the same activation shapes: recycle their buffers across steps.
        try ComputeContext.current.pool.recycling {
            for (i, t) in timesteps.enumerated() {
                try hooks.checkCancelled()
                var outputs: [Tensor] = [], x0s: [Tensor?] = []
                for g in groups.ranges.indices {
                    let input = schedulers[g].scaleModelInput(xs[g], timestep: t)
                    let output = try model(input, modelTimesteps[i], i, g)
                    let step = schedulers[g].step(modelOutput: output, timestep: t, sample: xs[g], random: &groups.randoms[g])
                    xs[g] = step.prevSample
                    outputs.append(output)
                    x0s.append(step.predOriginalSample)
                }
                trace("\(traceName).model_output", outputs)
                trace("\(traceName).x", xs)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                hooks.progress?(StepProgress(stage: stage, step: i + 1, stepCount: timesteps.count, elapsed: elapsed))
                if previews, hooks.previewInterval > 0, (i + 1) % hooks.previewInterval == 0, let preview = hooks.preview {
                    let x0 = x0s.compactMap { $0 }
                    if x0.count == x0s.count, x0.allSatisfy({ $0.rank == 4 && $0.shape[1] == 3 }) {
                        preview(Preview(stage: stage, step: i + 1, stepCount: timesteps.count,
                                        images: x0.flatMap { ImagePostprocess.images(fromSigned: $0) }))
                    }
                }
            }
        }
        return xs
    }

    /// Traces the whole batch (the groups' rows concatenated).
    private func trace(_ name: String, _ parts: [Tensor]) {
        guard let trace = hooks.trace else { return }
        trace(name, TensorRows.concat(parts))
    }
}

/// How a batch is computed: groups of rows that share one generator and go through the networks together.
///
/// - ``NoiseMode/shared(seed:)``: one group holding every row and one generator, as diffusers with a single
///   `torch.Generator`: every draw is batch-shaped and comes from that stream.
/// - ``NoiseMode/perImage(seed:)``: one group per image, image `i` with its own generator seeded `seed + i`,
///   which draws exactly what `randn_tensor` draws for row `i` with a list of generators. Each image also goes
///   through every network call on its own (batch 1, or 2 under guidance), so image `i` of a batch is bit for
///   bit the image a run of that image alone gives; diffusers batches the rows, which agrees to fp32 rounding.
///
/// The groups of a stage advance in lockstep (step `k` of every group before step `k + 1`), so each stage
/// loads its networks once and the super-res stage switches from `super_res_first` to `super_res_last` once.
struct RowGroups {
    /// The batch rows of each group, in order.
    let ranges: [Range<Int>]
    /// Each group's generator; its state carries over from stage to stage.
    var randoms: [TorchRandomSource]

    init(_ mode: NoiseMode, batch: Int) {
        switch mode {
        case .shared(let seed):
            ranges = [0..<batch]
            randoms = [TorchRandomSource(seed: seed)]
        case .perImage(let seed):
            ranges = (0..<batch).map { $0..<($0 + 1) }
            randoms = (0..<batch).map { TorchRandomSource(seed: seed &+ UInt64($0)) }
        }
    }

    var count: Int { ranges.count }
}

extension Tensor {
    /// Copies of batch rows `rows` (dimension 0).
    func rows(_ rows: Range<Int>) -> Tensor {
        slice(outer: rows.lowerBound, count: rows.count).copy()
    }
}

/// Batch-dimension helpers (dimension 0).
enum TensorRows {
    /// `torch.cat([a, b], dim=0)`.
    static func concat(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(Array(a.shape.dropFirst()) == Array(b.shape.dropFirst()), "cat: \(a.shape) and \(b.shape)")
        let y = Tensor(uninitialized: [a.shape[0] + b.shape[0]] + a.shape.dropFirst())
        y.data.update(from: a.data, count: a.count)
        (y.data + a.count).update(from: b.data, count: b.count)
        return y
    }

    /// `torch.cat(parts, dim=0)`.
    static func concat(_ parts: [Tensor]) -> Tensor {
        parts.count == 1 ? parts[0] : parts.dropFirst().reduce(parts[0]) { concat($0, $1) }
    }

    /// `t.repeat_interleave(n, dim=0)`.
    static func repeatInterleave(_ t: Tensor, _ n: Int) -> Tensor {
        if n == 1 { return t }
        let rows = t.shape[0], inner = t.count / max(rows, 1)
        let y = Tensor(uninitialized: [rows * n] + t.shape.dropFirst())
        for r in 0..<rows { for k in 0..<n { (y.data + (r * n + k) * inner).update(from: t.data + r * inner, count: inner) } }
        return y
    }

    /// The uncond/cond halves of a `[2B, …]` batch, as `chunk(2)` (views).
    static func halves(_ t: Tensor) -> (Tensor, Tensor) {
        let b = t.shape[0] / 2
        return (t.slice(outer: 0, count: b), t.slice(outer: b, count: b))
    }

    /// Classifier-free guidance `uncond + scale · (cond − uncond)` on the first `channels` channels of each row
    /// (`[B, C, …]`); the other channels are taken from `cond` (the decoder's predicted variance).
    /// `channels = nil` guides everything (the prior's x̂₀).
    static func guide(_ output: Tensor, scale: Float, channels: Int? = nil) -> Tensor {
        let (u, c) = halves(output)
        let b = u.shape[0], perRow = u.count / max(b, 1)
        let guided = channels.map { $0 * (perRow / u.shape[1]) } ?? perRow
        let y = Tensor(uninitialized: u.shape)
        for r in 0..<b {
            let yu = u.data + r * perRow, yc = c.data + r * perRow, yy = y.data + r * perRow
            for i in 0..<guided { yy[i] = yu[i] + scale * (yc[i] - yu[i]) }          // torch: u + s·(c − u), float32
            if guided < perRow { (yy + guided).update(from: yc + guided, count: perRow - guided) }
        }
        return y
    }
}
