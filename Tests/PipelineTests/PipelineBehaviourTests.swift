// Pipeline behaviour beyond parity: per-image noise, output size, progress, previews, cancellation, every scheduler on
// every stage, bad requests, and re-running after a stage's weights were released.
import Foundation
@testable import Pipeline
import Random
import Schedulers
import TensorCore
import WeightIO
import XCTest

final class PipelineBehaviourTests: XCTestCase {
    private func quick(_ prompt: String = "a red circle on a blue background", count: Int = 1, noise: NoiseMode,
                       size: OutputSize = .superRes) -> TextToImageRequest {
        TextToImageRequest(prompt: prompt, count: count, prior: StageOptions(steps: 3, guidanceScale: 4),
                           decoder: StageOptions(steps: 3, guidanceScale: 8), superRes: StageOptions(steps: 2),
                           noise: noise, size: size)
    }

    /// `randn_tensor` with a list of generators: image i's draws come from a generator seeded seed + i alone.
    func testPerImageGroupsDrawFromOneGeneratorPerImage() {
        var groups = RowGroups(.perImage(seed: 40), batch: 3)
        XCTAssertEqual(groups.ranges, [0..<1, 1..<2, 2..<3])
        for i in 0..<3 {
            var alone = TorchRandomSource(seed: 40 + UInt64(i))
            XCTAssertEqual(groups.randoms[i].normal(count: 24), alone.normal(count: 24))
        }
        var shared = RowGroups(.shared(seed: 5), batch: 3)
        var plain = TorchRandomSource(seed: 5)
        XCTAssertEqual(shared.ranges, [0..<3])
        XCTAssertEqual(shared.randoms[0].normal(count: 100), plain.normal(count: 100))
        XCTAssertEqual(NoiseMode.perImage(seed: 7).seed(ofImage: 2), 9)
        XCTAssertEqual(NoiseMode.shared(seed: 7).seed(ofImage: 2), 7)
    }

    /// With per-image noise, image i of a batch is the image a single run with seed + i gives.
    func testPerImageNoiseMakesEachImageReproducibleAlone() throws {
        let weights = try PipelineFixtures.weights("tiny-a")
        let pipeline = try UnCLIPPipeline(weights: weights)
        let batch = try pipeline.generate(quick(count: 2, noise: .perImage(seed: 42)))
        XCTAssertEqual(batch.seeds, [42, 43])
        let second = try pipeline.generate(quick(noise: .perImage(seed: 43)))
        XCTAssertEqual(second.seeds, [43])
        let first = try pipeline.generate(quick(noise: .perImage(seed: 42)))
        let d1 = PixelDeviation(batch.images[1].pixels, second.images[0].pixels)
        let d0 = PixelDeviation(batch.images[0].pixels, first.images[0].pixels)
        print("batch vs single: image 0 \(d0), image 1 \(d1)")
        XCTAssertTrue(batch.images[1] == second.images[0], "image 1 vs a run at seed 43: \(d1)")
        XCTAssertTrue(batch.images[0] == first.images[0], "image 0 vs a run at seed 42: \(d0)")
        XCTAssertTrue(batch.images[0] != batch.images[1])

        let variations = try UnCLIPImageVariationPipeline(weights: weights)
        let image = try InputImage(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 250])
        func vary(_ count: Int, _ seed: UInt64) throws -> GenerationResult {
            try variations.generate(VariationRequest(images: [image], imagesPerImage: count, decoder: StageOptions(steps: 2, guidanceScale: 8),
                                                     superRes: StageOptions(steps: 2), noise: .perImage(seed: seed)))
        }
        XCTAssertTrue(try vary(2, 9).images[1] == vary(1, 10).images[0])
    }

    /// `.decoder` size skips the super-res stage: the picture is diffusers' clamped decoder output.
    func testDecoderSizeIsTheClampedDecoderOutput() throws {
        let weights = try PipelineFixtures.weights("tiny-a"), golden = try PipelineFixtures.golden("tiny-a")
        let c = try XCTUnwrap(try PipelineFixtures.cases(golden).first { $0.name == "t2i_cfg" })
        var sawSuperRes = false, progressStages = Set<Stage>()
        let hooks = PipelineHooks(progress: { progressStages.insert($0.stage) }, trace: { name, _ in
            if name.hasPrefix("super_res") || name == "image_upscaled" { sawSuperRes = true }
        })
        let request = TextToImageRequest(prompt: c.prompt!.values[0],
                                         prior: StageOptions(steps: c.priorSteps!, guidanceScale: c.priorGuidanceScale!),
                                         decoder: StageOptions(steps: c.decoderSteps, guidanceScale: c.decoderGuidanceScale),
                                         noise: c.noise, size: .decoder)
        let result = try UnCLIPPipeline(weights: weights).generate(request, hooks: hooks)
        XCTAssertFalse(sawSuperRes)
        XCTAssertEqual(progressStages, [.prior, .decoder])
        XCTAssertEqual(result.images[0].width, weights.decoderSampleSize)
        XCTAssertEqual(result.images[0].height, weights.decoderSampleSize)
        // diffusers' decoder latents after the last step → clamp(−1, 1) → ×0.5 + 0.5 → round(·255).
        let x = try golden.golden("e2e.t2i_cfg.decoder.x"), n = x.shape[0] - 1, per = x.count / x.shape[0]
        let s = weights.decoderSampleSize
        var expected = [UInt8](repeating: 0, count: s * s * 3)
        for ch in 0..<3 { for p in 0..<(s * s) {
            let v = min(max(min(max(x.data[n * per + ch * s * s + p], -1), 1) * 0.5 + 0.5, 0), 1)
            expected[p * 3 + ch] = UInt8((v * 255).rounded(.toNearestOrEven))
        } }
        let d = PixelDeviation(result.images[0].pixels, expected)
        print("decoder-size picture vs diffusers decoder output: \(d)")
        XCTAssertGreaterThanOrEqual(d.psnr, E2ETolerance.minPSNR)
        XCTAssertLessThanOrEqual(d.maxDiff, E2ETolerance.maxPixelDiff)
    }

    /// One progress event per step of each stage, in order, and x̂₀ previews every N steps of decoder and super-res.
    func testProgressAndPreviews() throws {
        let weights = try PipelineFixtures.weights("tiny-b")
        var events: [StepProgress] = [], previews: [Preview] = []
        let hooks = PipelineHooks(progress: { events.append($0) }, previewInterval: 2, preview: { previews.append($0) })
        let request = TextToImageRequest(prompt: "two dogs", count: 2, prior: StageOptions(steps: 3, guidanceScale: 4),
                                         decoder: StageOptions(steps: 4, guidanceScale: 8), superRes: StageOptions(steps: 3),
                                         noise: .shared(seed: 1))
        _ = try UnCLIPPipeline(weights: weights).generate(request, hooks: hooks)
        XCTAssertEqual(events.map(\.stage), [.prior, .prior, .prior, .decoder, .decoder, .decoder, .decoder,
                                             .superRes, .superRes, .superRes])
        XCTAssertEqual(events.map(\.step), [1, 2, 3, 1, 2, 3, 4, 1, 2, 3])
        XCTAssertTrue(events.allSatisfy { $0.elapsed >= 0 && $0.secondsPerStep >= 0 && $0.remaining >= 0 })
        XCTAssertEqual(events.last?.remaining, 0)
        XCTAssertEqual(previews.map(\.stage), [.decoder, .decoder, .superRes])
        XCTAssertEqual(previews.map(\.step), [2, 4, 2])
        XCTAssertEqual(previews[0].images.count, 2)
        XCTAssertEqual(previews[0].images[0].width, weights.decoderSampleSize)
        XCTAssertEqual(previews[2].images[0].width, weights.superResSampleSize)
    }

    /// Cancelling stops between steps with `.cancelled`; cancelling before the start runs nothing.
    func testCancellationStopsBetweenSteps() throws {
        let pipeline = try UnCLIPPipeline(weights: try PipelineFixtures.weights("tiny-b"))
        var steps = 0
        let hooks = PipelineHooks(progress: { _ in steps += 1 }, isCancelled: { steps >= 4 })
        XCTAssertThrowsError(try pipeline.generate(quick(noise: .shared(seed: 3)), hooks: hooks)) {
            XCTAssertEqual($0 as? PipelineError, .cancelled)
        }
        XCTAssertEqual(steps, 4)
        var traced = 0
        let early = PipelineHooks(isCancelled: { true }, trace: { _, _ in traced += 1 })
        XCTAssertThrowsError(try pipeline.generate(quick(noise: .shared(seed: 3)), hooks: early)) {
            XCTAssertEqual($0 as? PipelineError, .cancelled)
        }
        XCTAssertEqual(traced, 0)
        XCTAssertEqual(PipelineError.cancelled.description, "cancelled")
    }

    /// Every registered scheduler drives every stage (initNoiseSigma, scaleModelInput and fractional model
    /// timesteps of the Euler family included) to a finite picture.
    func testEveryRegisteredSchedulerRunsOnEveryStage() throws {
        let weights = try PipelineFixtures.weights("tiny-b")
        let pipeline = try UnCLIPPipeline(weights: weights)
        for name in SchedulerRegistry.standard.names {
            func stage(_ s: Stage, _ steps: Int, _ g: Float) throws -> StageOptions {
                // Euler ancestral has no x̂₀ ("sample") parameterisation, which the prior needs (diffusers neither).
                let usable = !(name == "euler-a" && s == .prior)
                return StageOptions(steps: steps, guidanceScale: g, scheduler: usable ? try weights.makeScheduler(for: s, name: name) : nil)
            }
            let request = TextToImageRequest(prompt: "a cat", prior: try stage(.prior, 3, 4), decoder: try stage(.decoder, 3, 8),
                                             superRes: try stage(.superRes, 2, 1), noise: .shared(seed: 4))
            let result = try pipeline.generate(request)
            XCTAssertTrue(result.pixels.scalars.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, name)
            XCTAssertEqual(result.images[0].width, weights.superResSampleSize, name)
        }
        XCTAssertThrowsError(try weights.makeScheduler(for: .prior, name: "euler-a")) {
            XCTAssertTrue("\($0)".contains("prediction_type \"sample\" is not supported"), "\($0)")
        }
        let euler = try weights.makeScheduler(for: .decoder, name: "euler-a")
        XCTAssertNotEqual(euler.initNoiseSigma, 1)
        XCTAssertTrue(try weights.makeScheduler(for: .decoder, name: "ddim", eta: 0.5) is DDIMScheduler)
        XCTAssertEqual((try weights.makeScheduler(for: .decoder, name: "ddim", eta: 0.5) as? DDIMScheduler)?.configuration.eta, 0.5)
        XCTAssertTrue(try weights.makeScheduler(for: .prior) is UnCLIPScheduler)
        let json = Data(#"{"_class_name": "DDIMScheduler", "beta_schedule": "squaredcos_cap_v2"}"#.utf8)
        XCTAssertTrue(try weights.makeScheduler(for: .prior, name: "unclip", config: json) is DDIMScheduler)
    }

    /// Bad requests fail before any network runs, naming the problem.
    func testBadRequestsFailBeforeComputing() throws {
        let weights = try PipelineFixtures.weights("tiny-b")
        let pipeline = try UnCLIPPipeline(weights: weights)
        var traced = 0
        let hooks = PipelineHooks(trace: { _, _ in traced += 1 })
        var zero = quick(noise: .shared(seed: 0)); zero.decoder.steps = 0
        XCTAssertThrowsError(try pipeline.generate(zero, hooks: hooks)) {
            XCTAssertTrue("\($0)".contains("decoder steps must be at least 1"), "\($0)")
        }
        var one = quick(noise: .shared(seed: 0)); one.superRes.steps = 1     // UnCLIPScheduler needs 2 or more
        XCTAssertThrowsError(try pipeline.generate(one, hooks: hooks)) {
            XCTAssertTrue("\($0)".contains("super-res stage: UnCLIPScheduler: cannot use 1 inference steps"), "\($0)")
        }
        var none = quick(count: 0, noise: .shared(seed: 0))
        XCTAssertThrowsError(try pipeline.generate(none, hooks: hooks)) { XCTAssertTrue("\($0)".contains("at least 1"), "\($0)") }
        none = quick(noise: .shared(seed: 0)); none.prior.guidanceScale = .nan
        XCTAssertThrowsError(try pipeline.generate(none, hooks: hooks)) { XCTAssertTrue("\($0)".contains("finite"), "\($0)") }
        XCTAssertThrowsError(try weights.makeScheduler(for: .decoder, name: "nope")) {
            XCTAssertTrue("\($0)".contains("unknown scheduler 'nope'"), "\($0)")
        }
        XCTAssertThrowsError(try InputImage(width: 2, height: 2, channels: 3, pixels: [1, 2, 3]))
        XCTAssertEqual(traced, 0)
    }

    /// A stage's weights are released after it (their pages dropped); a second run on the same file is identical.
    func testRunsAgainAfterReleasingStages() throws {
        let weights = try PipelineFixtures.weights("tiny-a")
        let pipeline = try UnCLIPPipeline(weights: weights)
        let a = try pipeline.generate(quick(noise: .shared(seed: 8)))
        weights.file.releasePages(component: "decoder")
        let b = try pipeline.generate(quick(noise: .shared(seed: 8)))
        XCTAssertTrue(a.images == b.images)
        XCTAssertEqual(a.pixels.scalars, b.pixels.scalars)
    }

    /// The phase hook brackets text encoding, each stage and each component load, in run order, loads inside their stage.
    func testPhasesBracketStagesAndLoads() throws {
        var events: [String] = []
        let hooks = PipelineHooks(phase: { phase, started in
            let name: String
            switch phase {
            case .textEncoding: name = "text"
            case .stage(let stage): name = stage.rawValue
            case .loading(let component): name = "load " + component
            }
            events.append((started ? "+" : "-") + name)
        })
        _ = try UnCLIPPipeline(weights: PipelineFixtures.weights("tiny-a")).generate(quick(noise: .perImage(seed: 1)), hooks: hooks)
        XCTAssertEqual(events, ["+text", "+load text_encoder", "-load text_encoder", "-text",
                                "+prior", "+load prior", "-load prior", "-prior",
                                "+decoder", "+load text_proj", "-load text_proj", "+load decoder", "-load decoder", "-decoder",
                                "+super-res", "+load super_res_first", "-load super_res_first",
                                "+load super_res_last", "-load super_res_last", "-super-res"])
    }
}
