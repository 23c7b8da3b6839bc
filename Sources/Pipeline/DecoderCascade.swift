// Mirrors diffusers pipeline_unclip.py from "# decoder" to the post-processing (identical, "Copied from", in
// pipeline_unclip_image_variation.py): text_proj, the decoder loop with CFG on ε only, clamp, bicubic-AA upsample, super-res.
import Foundation
import Models
import Random
import Schedulers
import TensorCore

/// The decoder and super-resolution stages shared by both pipelines.
struct DecoderCascade {
    let weights: UnCLIPWeights
    let hooks: PipelineHooks

    /// Schedulers for the decoder and (unless `size == .decoder`) the super-res stage, set up before any compute,
    /// so a bad option fails fast.
    struct Plan {
        var decoder: any Scheduler
        var superRes: (any Scheduler)?
        let decoderGuidance: Float
        let size: OutputSize
    }

    func plan(decoder: StageOptions, superRes: StageOptions, size: OutputSize) throws -> Plan {
        _ = try weights.sideLength(size)
        return Plan(decoder: try DenoisingLoop.prepare(decoder, .decoder, weights: weights),
                    superRes: size == .superRes ? try DenoisingLoop.prepare(superRes, .superRes, weights: weights) : nil,
                    decoderGuidance: decoder.guidanceScale, size: size)
    }

    /// Image embeddings `[B, D]` + text conditioning → pictures.
    ///
    /// - Parameter guidance: diffusers' `do_classifier_free_guidance` (the text conditioning is `[uncond; cond]`).
    func run(_ plan: Plan, imageEmbeddings: Tensor, text: TextConditioning, guidance: Bool,
             groups: inout RowGroups, seeds: [UInt64]) throws -> GenerationResult {
        let images = try runStages(plan, imageEmbeddings: imageEmbeddings, text: text, guidance: guidance, groups: &groups)
        let pixels = ImagePostprocess.toUnitNHWC(TensorRows.concat(images))          // [B, H, W, 3] in [0, 1]
        return GenerationResult(images: ImagePostprocess.toImages(pixels), pixels: pixels, seeds: seeds)
    }

    /// The decoder and super-res stages; returns each group's pictures `[b, 3, H, H]` in [−1, 1]. `known` keeps an
    /// edit's known pixels at each stage's resolution (``KnownRegion``).
    func runStages(_ plan: Plan, imageEmbeddings: Tensor, text: TextConditioning, guidance: Bool, groups: inout RowGroups,
                   known: (decoder: KnownRegion, superRes: KnownRegion?)? = nil) throws -> [Tensor] {
        try hooks.checkCancelled()
        let small = try hooks.during(.stage(.decoder)) {
            try decode(plan.decoder, imageEmbeddings: imageEmbeddings, text: text, guidance: guidance,
                       scale: plan.decoderGuidance, groups: &groups, known: known?.decoder)   // per group [b, 3, S, S]
        }
        var images = small
        if let scheduler = plan.superRes {
            try hooks.checkCancelled()
            images = try hooks.during(.stage(.superRes)) {
                try superResolve(scheduler, small: small, groups: &groups, known: known?.superRes)   // per group [b, 3, H, H]
            }
        }
        return images
    }

    /// text_proj, then the decoder loop; returns each group's `decoder_latents.clamp(-1, 1)`.
    private func decode(_ scheduler: any Scheduler, imageEmbeddings: Tensor, text: TextConditioning, guidance: Bool,
                        scale: Float, groups: inout RowGroups, known: KnownRegion?) throws -> [Tensor] {
        var conditioning: [(ehs: Tensor, added: Tensor, mask: [[Int]])] = []
        do {
            let textProj = try hooks.during(.loading("text_proj")) { try weights.textProjection() }
            defer { weights.release("text_proj") }
            for r in groups.ranges {
                let t = text.rows(r)
                let out = textProj(imageEmbeddings: imageEmbeddings.rows(r), promptEmbeds: t.promptEmbeds,
                                   textHiddenStates: t.hiddenStates, guidance: guidance)
                // F.pad(text_mask, (clip_extra_context_tokens, 0), value=True): the extra CLIP tokens are always attended.
                let extra = out.encoderHiddenStates.shape[1] - t.mask[0].count
                conditioning.append((out.encoderHiddenStates,                 // [b2, 4 + 77, C]
                                     out.additiveTimeEmbeddings,              // [b2, T]
                                     t.mask.map { [Int](repeating: 1, count: extra) + $0 }))   // b2 rows of 81
            }
        }
        if hooks.trace != nil {
            let halves = guidance ? 2 : 1
            func batch(_ parts: [Tensor]) -> Tensor {               // [uncond rows…; cond rows…] across groups
                let split = (0..<halves).map { h in parts.map { $0.rows((h * $0.shape[0] / halves)..<((h + 1) * $0.shape[0] / halves)) } }
                return TensorRows.concat(split.flatMap { $0 })
            }
            hooks.trace?("text_proj.encoder_hidden_states", batch(conditioning.map(\.ehs)))
            hooks.trace?("text_proj.additive_clip_time_embeddings", batch(conditioning.map(\.added)))
        }

        let decoder = try hooks.during(.loading("decoder")) { try weights.decoder() }
        defer { weights.release("decoder") }
        let side = weights.decoderSampleSize
        let loop = DenoisingLoop(.decoder, hooks: hooks)
        let xs = try loop.run(scheduler, shape: [decoder.config.inChannels, side, side], groups: &groups, known: known) { input, t, _, g in
            let c = conditioning[g]
            let modelInput = guidance ? TensorRows.concat(input, input) : input   // [b2, 3, S, S]
            let out = decoder(sample: modelInput, timestep: t, classLabels: c.added, encoderHiddenStates: c.ehs,
                              attentionMask: c.mask)                             // [b2, 6, S, S]
            // CFG on the ε channels only; the predicted variance comes from the conditional half.
            return guidance ? TensorRows.guide(out, scale: scale, channels: input.shape[1]) : out   // [b, 6, S, S]
        }
        return xs.map { x in
            let small = Tensor(uninitialized: x.shape)
            for i in 0..<x.count { small.data[i] = min(max(x.data[i], -1), 1) }
            return small
        }
    }

    /// Bicubic-antialiased upsample of the decoder output, then the super-res loop (`super_res_first` for all
    /// steps but the last, `super_res_last` for the last).
    private func superResolve(_ scheduler: any Scheduler, small: [Tensor], groups: inout RowGroups,
                              known: KnownRegion?) throws -> [Tensor] {
        guard let config = weights.superResConfig, let side = weights.superResSampleSize else {
            throw PipelineError.missingComponent("weights file has no super-resolution nets")
        }
        let upscaled = small.map { Ops.resizeBicubic($0, height: side, width: side, antialias: true) }   // [b, 3, H, H]
        hooks.trace?("image_upscaled", TensorRows.concat(upscaled))
        let last = scheduler.timesteps.count - 1
        var current: (isLast: Bool, net: UNet)?
        defer { if let current { weights.release(current.isLast ? "super_res_last" : "super_res_first") } }
        let loop = DenoisingLoop(.superRes, hooks: hooks)
        return try loop.run(scheduler, shape: [config.inChannels / 2, side, side], groups: &groups, known: known) { input, t, i, g in
            let wantLast = i == last
            if current?.isLast != wantLast {
                if let old = current { current = nil; weights.release(old.isLast ? "super_res_last" : "super_res_first") }
                let name = wantLast ? "super_res_last" : "super_res_first"
                current = (wantLast, try hooks.during(.loading(name)) { try weights.superRes(last: wantLast) })
            }
            let modelInput = Ops.concat(input, upscaled[g])                     // [b, 6, H, H]: noisy first
            return current!.net(sample: modelInput, timestep: t)                // [b, 3, H, H]
        }
    }
}
