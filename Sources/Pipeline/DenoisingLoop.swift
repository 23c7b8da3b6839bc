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
        traceName = stage.key
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
    ///   - known: an edit's known pixels: the loop starts at its ``KnownRegion/start`` from the forward-noised source,
    ///     walks its moves (RePaint resampling jumps back up the chain) and puts the known pixels back after every step.
    ///     Draws, per group: the initial latents; per step, the scheduler's noise then the known part's; per jump, one.
    ///   - model: `(scaled x_t of group g, model timestep, step index, g) → output` handed to `scheduler.step`
    ///     (already guided, and carrying the predicted-variance channels where the model has them).
    /// - Returns: each group's last `prev_sample`.
    func run(_ prepared: any Scheduler, shape: [Int], groups: inout RowGroups, known: KnownRegion? = nil,
             model: (Tensor, Float, Int, Int) throws -> Tensor) throws -> [Tensor] {
        var schedulers = [any Scheduler](repeating: prepared, count: groups.count)
        // prepare_latents: one batch-shaped N(0, 1) draw per generator, times init_noise_sigma.
        var xs: [Tensor] = groups.ranges.indices.map { g in
            let x = groups.randoms[g].randn([groups.ranges[g].count] + shape)
            let sigma = prepared.initNoiseSigma
            if sigma != 1 { for i in 0..<x.count { x.data[i] *= sigma } }
            return x
        }
        let timesteps = prepared.timesteps, modelTimesteps = prepared.modelTimesteps
        let chain: (any ChainScheduler)?
        do { chain = try known.map { _ in try prepared.chainScheduler() } } catch {
            throw PipelineError.invalidRequest("\(stage.rawValue) stage: \(error)")
        }
        if let known, let chain {                       // the start: the source noised with the initial draw
            let ab = chain.schedule.alphasCumprod[timesteps[known.start]]
            xs = xs.map { known.noised($0, alphaCumprod: ab, noise: $0, everywhere: known.start > 0) }
        }
        trace("\(traceName).x", xs)
        let moves = known?.moves ?? timesteps.indices.map { .denoise($0) }
        let stepCount = moves.filter { if case .denoise = $0 { return true } else { return false } }.count
        var done = 0
        let start = DispatchTime.now().uptimeNanoseconds
        // Each step allocates the same activation shapes: recycle their buffers across steps.
        try ComputeContext.current.pool.recycling {
            for move in moves {
                try hooks.checkCancelled()
                guard case .denoise(let i) = move else {
                    if case .renoise(let i) = move, let chain {
                        for g in groups.ranges.indices { xs[g] = chain.jumpForward(xs[g], overStep: i, random: &groups.randoms[g]) }
                    }
                    continue
                }
                let t = timesteps[i]
                var outputs: [Tensor] = [], x0s: [Tensor?] = []
                for g in groups.ranges.indices {
                    let input = schedulers[g].scaleModelInput(xs[g], timestep: t)
                    let output = try model(input, modelTimesteps[i], i, g)
                    let step = schedulers[g].step(modelOutput: output, timestep: t, sample: xs[g], random: &groups.randoms[g])
                    xs[g] = step.prevSample
                    if let known, let chain {
                        xs[g] = known.replaced(xs[g], alphaCumprod: chain.alphaCumprodAfterStep(i), random: &groups.randoms[g])
                    }
                    outputs.append(output)
                    x0s.append(step.predOriginalSample)
                }
                done += 1
                trace("\(traceName).model_output", outputs)
                trace("\(traceName).x", xs)
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                hooks.progress?(StepProgress(stage: stage, step: done, stepCount: stepCount, elapsed: elapsed))
                if previews, hooks.previewInterval > 0, done % hooks.previewInterval == 0, let preview = hooks.preview {
                    let x0 = x0s.compactMap { $0 }
                    if x0.count == x0s.count, x0.allSatisfy({ $0.rank == 4 && $0.shape[1] == 3 }) {
                        preview(Preview(stage: stage, step: done, stepCount: stepCount,
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
