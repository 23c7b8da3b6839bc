// UnCLIPScheduler against the unCLIP goldens of common.safetensors (scripts/make_fixtures.py: `scheduler.*`):
// Karlo's three stage configs, one recorded step per schedule entry with a per-step seeded generator.
import Foundation
import Random
import Schedulers
import TensorCore
import WeightIO
import XCTest

final class UnCLIPGoldenTests: XCTestCase {
    /// Karlo's prior, decoder and super-res scheduler configs (unclip-architecture.md §2.1).
    static let stages: [(name: String, config: UnCLIPScheduler.Configuration)] = {
        var prior = UnCLIPScheduler.Configuration()
        prior.predictionType = .sample; prior.clipSampleRange = 5.0; prior.varianceType = .fixedSmallLog
        var decoder = UnCLIPScheduler.Configuration()
        decoder.varianceType = .learnedRange
        let superRes = UnCLIPScheduler.Configuration()
        return [("prior", prior), ("decoder", decoder), ("super_res", superRes)]
    }()

    /// β and ᾱ of squaredcos_cap_v2, bit for bit (cosine in double, cumprod accumulated in double).
    func testTablesBitExact() throws {
        let common = try SchedulerFixtures.common()
        let s = try UnCLIPScheduler(configuration: .init())
        assertBitwiseEqual(s.schedule.betas, try common.goldenTensor("scheduler.betas").scalars, "betas")
        assertBitwiseEqual(s.schedule.alphasCumprod, try common.goldenTensor("scheduler.alphas_cumprod").scalars, "alphas_cumprod")
    }

    /// `set_timesteps(N)` for N ∈ {2, 3, 4, 5, 7, 25, 50}: half-to-even rounding (N = 7 has 166 and 832, not 167/833).
    func testTimestepsExact() throws {
        let common = try SchedulerFixtures.common()
        var s = try UnCLIPScheduler(configuration: .init())
        for n in [2, 3, 4, 5, 7, 25, 50] {
            try s.setTimesteps(n)
            XCTAssertEqual(s.timesteps, try common.ints("scheduler.timesteps.n\(n)"), "n\(n)")
        }
        try s.setTimesteps(7)
        XCTAssertEqual(s.timesteps, [999, 832, 666, 500, 333, 166, 0])
    }

    /// Every recorded step of the three stages at 7 and 25 steps: prev_sample and pred_original_sample within
    /// 1e-6 of max|ref|, the step's noise equal to the seed's draw bit for bit.
    func testStagesStepByStep() throws {
        let common = try SchedulerFixtures.common()
        for (stage, config) in Self.stages {
            for n in [7, 25] {
                let key = "scheduler.\(stage).n\(n)"
                var s = try UnCLIPScheduler(configuration: config)
                try s.setTimesteps(n)
                XCTAssertEqual(s.timesteps, try common.ints("\(key).timesteps"), key)
                let seeds = try common.ints("\(key).seeds")
                let outputs = try common.goldenTensor("\(key).model_output"), samples = try common.goldenTensor("\(key).sample")
                let prevs = try common.goldenTensor("\(key).prev_sample"), x0s = try common.goldenTensor("\(key).pred_original_sample")
                let noises = try common.goldenTensor("\(key).noise")
                for (i, t) in s.timesteps.enumerated() {
                    let out = slice(outputs, i), x = slice(samples, i)
                    var rng = TorchRandomSource(seed: UInt64(seeds[i]))
                    let prev: Int? = i + 1 < s.timesteps.count ? s.timesteps[i + 1] : nil
                    let r = s.step(modelOutput: out, timestep: t, prevTimestep: prev, sample: x, random: &rng)
                    assertClose(r.prevSample, slice(prevs, i), relTol: 1e-6, "\(key) step \(i) prev_sample")
                    assertClose(try XCTUnwrap(r.predOriginalSample), slice(x0s, i), relTol: 1e-6, "\(key) step \(i) x0")
                    // The step drew exactly `noise[i]` (sample-shaped; nothing at t = 0).
                    var replay = TorchRandomSource(seed: UInt64(seeds[i]))
                    let noise = slice(noises, i)
                    if t > 0 {
                        assertBitwiseEqual(replay.normal(count: noise.count), noise.scalars, "\(key) step \(i) noise")
                    } else {
                        XCTAssertTrue(noise.scalars.allSatisfy { $0 == 0 })
                    }
                }
            }
        }
    }

    /// The protocol `step` (previous timestep looked up in the schedule) equals the explicit-prev step.
    func testProtocolStepUsesNextScheduleEntry() throws {
        var s = try UnCLIPScheduler(configuration: Self.stages[1].config)
        try s.setTimesteps(7)
        let x = SchedulerLoopTests.dummySample([4, 3, 8, 8])
        let out = dummyModel(x, 500, learnedVariance: true)
        var r1 = TorchRandomSource(seed: 9), r2 = TorchRandomSource(seed: 9)
        let a = s.step(modelOutput: out, timestep: 500, sample: x, random: &r1).prevSample
        let b = s.step(modelOutput: out, timestep: 500, prevTimestep: 333, sample: x, random: &r2).prevSample
        XCTAssertEqual(a.scalars, b.scalars)
        let c = s.step(modelOutput: out, timestep: 500, prevTimestep: 499, sample: x, random: &r2).prevSample
        XCTAssertNotEqual(a.scalars, c.scalars)
    }

    /// `add_noise`: √ᾱ_t·x₀ + √(1−ᾱ_t)·ε per batch element.
    func testAddNoise() throws {
        let s = try UnCLIPScheduler(configuration: .init())
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4]), z = Tensor(shape: [2, 2], values: [0.5, -1, 2, 0])
        let y = s.addNoise(original: x, noise: z, timesteps: [0, 999])
        let ac = s.schedule.alphasCumprod
        XCTAssertEqual(y.scalars[0], ac[0].squareRoot() * 1 + (1 - ac[0]).squareRoot() * 0.5)
        XCTAssertEqual(y.scalars[3], ac[999].squareRoot() * 4 + (1 - ac[999]).squareRoot() * 0)
    }

    private func slice(_ t: Tensor, _ i: Int) -> Tensor {
        t.slice(outer: i, count: 1).reshaped(Array(t.shape.dropFirst()))
    }
}
