// RePaint support (issue #15, part 1) against diffusers' RePaintScheduler (Tests/Fixtures/repaint.json, made by
// scripts/make_repaint_fixtures.py): the jump walk of `set_timesteps(N, jump_length, jump_n_sample)`, and `undo_step`
// where its math is the same as ours (one table step per schedule step); on respaced schedules, the written derivation.
import Foundation
import Random
import Schedulers
import TensorCore
import XCTest

final class RePaintTests: XCTestCase {
    struct Fixture: Decodable {
        struct Plan: Decodable { let steps: Int, jump_length: Int, jump_n_sample: Int, levels: [Int] }
        struct Undo: Decodable {
            let beta_schedule: String, num_train_timesteps: Int, t: Int, seed: UInt64, shape: [Int]
            let sample: [Float], result: [Float], betas: [Float], alphas_cumprod: [Float]
        }
        let plans: [Plan]
        let undo: [Undo]
    }

    static func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: SchedulerFixtures.root.appendingPathComponent("repaint.json")))
    }

    func testTheWalkIsDiffusersJumpSchedule() throws {
        for p in try Self.fixture().plans {
            XCTAssertEqual(RePaintPlan.levels(steps: p.steps, jumpLength: p.jump_length, resamples: p.jump_n_sample), p.levels,
                           "N \(p.steps) j \(p.jump_length) r \(p.jump_n_sample)")
            // The moves replay the walk: positions (schedule index the sample is at; N = past the last step) follow the levels.
            let plan = try RePaintPlan(steps: p.steps, jumpLength: p.jump_length, resamples: p.jump_n_sample)
            var position = 0
            for (move, level) in zip(plan.moves, p.levels) {
                switch move {
                case .denoise(let i): XCTAssertEqual(i, position); position += 1
                case .renoise(let i): XCTAssertEqual(i, position - 1); position -= 1
                }
                // diffusers' entry is the level above the sample after either move (a step at L lands on L − 1; an undo
                // at entry L lands on L − 1 too, ready for the step at L − 1 or the next undo).
                XCTAssertEqual(p.steps - 1 - level, position - 1)
            }
            XCTAssertEqual(position, p.steps, "the walk ends past the last step")
        }
        let plain = try RePaintPlan(steps: 25, jumpLength: 5, resamples: 1)
        XCTAssertEqual(plain.moves, (0..<25).map { .denoise($0) })
        let ten = try RePaintPlan(steps: 25, jumpLength: 10, resamples: 10)
        XCTAssertEqual(ten.denoiseCount, 25 + 2 * 9 * 10)             // jumps at levels 0 and 10, 9 repeats of 10 steps each
        XCTAssertThrowsError(try RePaintPlan(steps: 25, jumpLength: 0, resamples: 3))
        XCTAssertThrowsError(try RePaintPlan(steps: 0))
    }

    /// With as many steps as training steps, a jump is diffusers' `undo_step`: q(x_t | x_{t−1}) with β_t, one draw.
    func testJumpForwardIsUndoStepOnASingleStepChain() throws {
        for u in try Self.fixture().undo {
            let config = #"{"num_train_timesteps": \#(u.num_train_timesteps), "beta_schedule": "\#(u.beta_schedule)"}"#
            var schedulers: [any ChainScheduler] = [
                try DDPMScheduler(configuration: JSONDecoder().decode(DDPMScheduler.Configuration.self, from: Data(config.utf8))),
                try DDIMScheduler(configuration: JSONDecoder().decode(DDIMScheduler.Configuration.self, from: Data(config.utf8))),
            ]
            if u.beta_schedule == "squaredcos_cap_v2" {
                schedulers.append(try UnCLIPScheduler(configuration: JSONDecoder().decode(UnCLIPScheduler.Configuration.self,
                                                                                         from: Data(config.utf8))))
            }
            for var s in schedulers {
                try s.setTimesteps(u.num_train_timesteps)
                let index = try XCTUnwrap(s.timesteps.firstIndex(of: u.t))
                var random = TorchRandomSource(seed: u.seed)
                let out = s.jumpForward(Tensor(shape: u.shape, values: u.sample), overStep: index, random: &random)
                let name = "\(type(of: s)) \(u.beta_schedule) t \(u.t)"
                XCTAssertEqual(s.jumpRatio(overStep: index), 1 - u.betas[u.t], accuracy: 2e-6, name)
                assertClose(out, Tensor(shape: u.shape, values: u.result), relTol: 1e-5, absTol: 1e-6, name)
            }
        }
    }

    /// On a respaced schedule (the case diffusers' undo_step gets wrong): x_t = √r·x + √(1−r)·z, r = ᾱ_t/ᾱ_prev, with
    /// prev what the scheduler's own step produces. Checked by putting x = 0 and z = 0 in turn, against ᾱ in Double.
    func testRespacedJumpIsVariancePreserving() throws {
        var unclip = try UnCLIPScheduler(configuration: .init())
        try unclip.setTimesteps(25)
        var ddim = try DDIMScheduler(configuration: .init())
        try ddim.setTimesteps(25)
        var ddpm = try DDPMScheduler(configuration: .init())
        try ddpm.setTimesteps(25)
        let ones = Tensor(shape: [1, 4], values: [1, 1, 1, 1]), zeros = Tensor(zeros: [1, 4])
        for s in [unclip, ddim, ddpm] as [any ChainScheduler] {
            let ac = s.schedule.alphasCumprod
            for index in [0, 11, s.timesteps.count - 1] {
                let t = s.timesteps[index]
                // Where the scheduler's own step lands: the next entry (UnCLIP, DDPM) or t − T//N (DDIM), 1 (or DDIM's
                // final ᾱ) past the end.
                let prevAlpha: Double
                if s is DDIMScheduler {
                    prevAlpha = t - 40 >= 0 ? Double(ac[t - 40]) : 1
                } else {
                    prevAlpha = index + 1 < s.timesteps.count ? Double(ac[s.timesteps[index + 1]]) : 1
                }
                let r = Double(ac[t]) / prevAlpha
                let signal = s.jumpForward(ones, overStep: index, noise: zeros).scalars
                let noise = s.jumpForward(zeros, overStep: index, noise: ones).scalars
                XCTAssertEqual(Double(signal[0]), r.squareRoot(), accuracy: 1e-6, "\(type(of: s)) index \(index)")
                XCTAssertEqual(Double(noise[0]), (1 - r).squareRoot(), accuracy: 1e-6, "\(type(of: s)) index \(index)")
                // Variance preserving: a sample of q(x_prev | x0) jumped is a sample of q(x_t | x0).
                XCTAssertEqual(r * prevAlpha, Double(ac[t]), accuracy: 1e-7)
            }
        }
        // The samplers that keep history or work in σ cannot go back up, and say so.
        let dpm = try SchedulerRegistry.standard.make(name: "dpmpp-2m", config: Data("{}".utf8))
        XCTAssertThrowsError(try dpm.chainScheduler()) { XCTAssertTrue("\($0)".contains("RePaint resampling"), "\($0)") }
        let euler = try SchedulerRegistry.standard.make(name: "euler-a", config: Data("{}".utf8))
        XCTAssertThrowsError(try euler.chainScheduler())
        XCTAssertNoThrow(try unclip.chainScheduler())
    }

    /// addNoise, now written once for the three chain schedulers: q(x_t | x₀) per batch element.
    func testAddNoiseIsSharedAndPerBatch() throws {
        let s = try DDPMScheduler(configuration: .init())
        let x0 = Tensor(shape: [2, 2], values: [1, 2, 3, 4]), z = Tensor(shape: [2, 2], values: [0.5, -0.5, 1, -1])
        let out = s.addNoise(original: x0, noise: z, timesteps: [10, 900]).scalars
        let ac = s.schedule.alphasCumprod
        for (i, (x, n)) in zip(x0.scalars, z.scalars).enumerated() {
            let t = i < 2 ? 10 : 900
            XCTAssertEqual(out[i], ac[t].squareRoot() * x + (1 - ac[t]).squareRoot() * n, accuracy: 1e-6)
        }
    }
}
