// diffusers' model-free scheduler loops (tests/schedulers: dummy_sample_deter, dummy_model x·t/(t+1)),
// replayed against scripts/make_scheduler_fixtures.py → Tests/Fixtures/schedulers.safetensors.
import Foundation
import Random
import Schedulers
import TensorCore
import WeightIO
import XCTest

/// One loop of the fixture file (metadata `cases`).
struct LoopCase: Decodable {
    let name: String
    let `class`: String
    let config: [String: JSONValue]
    let steps: Int?
    let customTimesteps: [Int]?
    let seed: UInt64
    let learnedVariance: Bool
    let shape: [Int]
    let record: String
    let stepKwargs: [String: JSONValue]

    enum CodingKeys: String, CodingKey {
        case name, `class`, config, steps, seed, shape, record
        case customTimesteps = "custom_timesteps", learnedVariance = "learned_variance", stepKwargs = "step_kwargs"
    }

    /// The diffusers config plus `_class_name` and the engine keys that diffusers passes to `step` (DDIM's eta).
    var schedulerJSON: Data {
        var object = config
        object["_class_name"] = .string(self.class)
        for (k, v) in stepKwargs { object[k] = v }
        return try! JSONEncoder().encode(object)
    }
}

/// A JSON value, enough to carry the case configs through.
enum JSONValue: Codable {
    case string(String), number(Double), bool(Bool), array([JSONValue]), null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null } else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) } else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .array(try c.decode([JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let d): if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int(d)) } else { try c.encode(d) }
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .null: try c.encodeNil()
        }
    }
}

/// diffusers' `dummy_model`: x·t/(t+1) in Float; with learned variance, cat([ε, clamp(0.5·ε, −1, 1)], dim=1).
func dummyModel(_ x: Tensor, _ t: Float, learnedVariance: Bool) -> Tensor {
    let eps = Tensor(uninitialized: x.shape)
    for i in 0..<x.count { eps.data[i] = x.data[i] * t / (t + 1) }
    guard learnedVariance else { return eps }
    var shape = x.shape
    shape[1] *= 2
    let out = Tensor(uninitialized: shape)
    let row = x.count / x.shape[0]
    for b in 0..<x.shape[0] {
        for i in 0..<row {
            let e = eps.data[b * row + i]
            out.data[b * 2 * row + i] = e
            out.data[b * 2 * row + row + i] = min(max(0.5 * e, -1), 1)
        }
    }
    return out
}

/// x · s (Float), as `sample * init_noise_sigma`.
func scaled(_ x: Tensor, _ s: Float) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    for i in 0..<x.count { out.data[i] = x.data[i] * s }
    return out
}

final class SchedulerLoopTests: XCTestCase {
    static func cases() throws -> (WeightFile, [LoopCase]) {
        let file = try SchedulerFixtures.loops()
        let json = try file.requireMetadata("cases")
        return (file, try JSONDecoder().decode([LoopCase].self, from: Data(json.utf8)))
    }

    /// A scheduler built from the case's JSON through the registry, with its timesteps set.
    func makeScheduler(_ c: LoopCase) throws -> any Scheduler {
        var s = try SchedulerRegistry.standard.make(config: c.schedulerJSON)
        if let custom = c.customTimesteps {
            var ddpm = try XCTUnwrap(s as? DDPMScheduler)
            try ddpm.setTimesteps(custom: custom)
            s = ddpm
        } else if let n = c.steps {
            try s.setTimesteps(n)
        }
        return s
    }

    /// How much a step's outputs move when the model output or the sample is perturbed by 8 ulps (2⁻²⁰ relative).
    ///
    /// PyTorch's CPU build evaluates √, exp and log through MKL within about one ulp, not correctly rounded
    /// (e.g. √(1 − ᾱ₉₉₉) of the linear chain is one ulp above IEEE). Where a step cancels — x − √(1−ᾱ)·ε at
    /// t ≈ T with the dummy model's ε ≈ x, or Euler's σ ≈ 2·10⁴ — those ulps are amplified far beyond 1e-5 of
    /// the result (a one-ulp error in Euler's σ ≈ 2·10⁴ moves x by as much as 8 ulps of x itself). The
    /// tolerance of such steps is four times this measured sensitivity instead.
    static func sensitivity(of s: any Scheduler, modelOutput: Tensor, timestep t: Int, sample: Tensor,
                            random: TorchRandomSource) -> (prev: Float, x0: Float) {
        func run(_ out: Tensor, _ x: Tensor) -> SchedulerStepOutput {
            var probe = s, rng = random
            return probe.step(modelOutput: out, timestep: t, sample: x, random: &rng)
        }
        func maxDiff(_ a: Tensor?, _ b: Tensor?) -> Float {
            guard let a, let b else { return 0 }
            return zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
        }
        let base = run(modelOutput, sample)
        let delta: Float = 1 + 1.0 / 1_048_576
        let a = run(scaled(modelOutput, delta), sample), b = run(modelOutput, scaled(sample, delta))
        return (max(maxDiff(base.prevSample, a.prevSample), maxDiff(base.prevSample, b.prevSample)),
                max(maxDiff(base.predOriginalSample, a.predOriginalSample), maxDiff(base.predOriginalSample, b.predOriginalSample)))
    }

    /// Every step of every loop, fed the reference x_t (so errors cannot accumulate): prev_sample and
    /// pred_original_sample within 1e-5 of max|ref| (or the step's ``sensitivity(of:modelOutput:timestep:sample:random:)``
    /// where it cancels); the random draws come from TorchRandomSource and match exactly.
    func testEveryLoopStepByStep() throws {
        let (file, cases) = try Self.cases()
        var checked = 0
        defer { print("SchedulerLoopTests: \(checked) steps checked") }
        for c in cases where c.record == "all" {
            var s = try makeScheduler(c)
            let key = "loop.\(c.name)"
            XCTAssertEqual(s.timesteps, try file.ints("\(key).timesteps"), "\(c.name) timesteps")
            if file.tensors["\(key).model_timesteps"] != nil {
                XCTAssertEqual(s.modelTimesteps, try file.goldenTensor("\(key).model_timesteps").scalars, "\(c.name) model timesteps")
            }
            if let info = file.tensors["\(key).sigmas"] {
                let sigmas = (s as? EulerAncestralDiscreteScheduler)?.sigmas ?? (s as? DPMSolverMultistepScheduler)?.sigmas ?? []
                assertClose(Tensor(shape: [sigmas.count], values: sigmas), try file.floatTensor(info).copy(), relTol: 1e-6,
                            "\(c.name) sigmas")
            }
            let xs = try file.goldenTensor("\(key).x")
            let x0s = file.tensors["\(key).pred_original"] != nil ? try file.goldenTensor("\(key).pred_original") : nil
            var rng = TorchRandomSource(seed: c.seed)
            let x0 = xs.slice(outer: 0, count: 1).reshaped(c.shape)
            assertClose(scaled(SchedulerLoopTests.dummySample(c.shape), s.initNoiseSigma), x0, relTol: 1e-7, "\(c.name) x[0]")
            for (i, t) in s.timesteps.enumerated() {
                let x = xs.slice(outer: i, count: 1).reshaped(c.shape)
                let input = s.scaleModelInput(x, timestep: t)
                let out = dummyModel(input, s.modelTimesteps[i], learnedVariance: c.learnedVariance)
                let sensitivity = Self.sensitivity(of: s, modelOutput: out, timestep: t, sample: x, random: rng)
                let r = s.step(modelOutput: out, timestep: t, sample: x, random: &rng)
                assertClose(r.prevSample, xs.slice(outer: i + 1, count: 1).reshaped(c.shape), relTol: 1e-5,
                            absTol: 4 * sensitivity.prev, "\(c.name) step \(i) (t=\(t))")
                if let x0s {
                    assertClose(try XCTUnwrap(r.predOriginalSample), x0s.slice(outer: i, count: 1).reshaped(c.shape), relTol: 1e-5,
                                absTol: 4 * sensitivity.x0, "\(c.name) step \(i) x0")
                }
                checked += 1
            }
        }
    }

    /// Every class of the registry has at least one diffusers loop in the fixture file.
    func testEveryRegisteredClassHasLoops() throws {
        let (_, cases) = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 26)
        for entry in SchedulerRegistry.standard.registrations {
            XCTAssertTrue(cases.contains { $0.class == entry.className },
                          "no loop for \(entry.className) in scripts/make_scheduler_fixtures.py")
        }
    }

    /// Each loop run freely from x[0] (own samples, own draws): the final sample within 1e-4 of diffusers'.
    func testEveryLoopFreeRunning() throws {
        let (file, cases) = try Self.cases()
        for c in cases {
            var s = try makeScheduler(c)
            let xs = try file.goldenTensor("loop.\(c.name).x")
            var x = scaled(SchedulerLoopTests.dummySample(c.shape), s.initNoiseSigma)
            var rng = TorchRandomSource(seed: c.seed)
            for (i, t) in s.timesteps.enumerated() {
                let out = dummyModel(s.scaleModelInput(x, timestep: t), s.modelTimesteps[i], learnedVariance: c.learnedVariance)
                x = s.step(modelOutput: out, timestep: t, sample: x, random: &rng).prevSample
            }
            assertClose(x, xs.slice(outer: xs.shape[0] - 1, count: 1).reshaped(c.shape), relTol: 1e-4, "\(c.name) final")
        }
    }

    /// diffusers' own constants (tests/schedulers/test_scheduler_unclip.py): the 1000-step full loop
    /// (prev_timestep None) and the 25-step loop with prev_timestep = next entry, seed 0.
    func testUnCLIPDiffusersConstants() throws {
        for (steps, sum, mean) in [(nil as Int?, 252.2682495, 0.3284743), (25, 258.2044983, 0.3362038)] {
            var s = try UnCLIPScheduler(configuration: .init())
            if let steps { try s.setTimesteps(steps) }
            var x = SchedulerLoopTests.dummySample([4, 3, 8, 8])
            var rng = TorchRandomSource(seed: 0)
            for t in s.timesteps {
                x = s.step(modelOutput: dummyModel(x, Float(t), learnedVariance: false), timestep: t, sample: x, random: &rng).prevSample
            }
            let total = x.scalars.reduce(0.0) { $0 + Double(abs($1)) }
            XCTAssertEqual(total, sum, accuracy: 1e-2, "sum |x| after \(steps ?? 1000) steps")
            XCTAssertEqual(total / Double(x.count), mean, accuracy: 1e-3)
        }
    }

    /// DDPM with learned_range on unCLIP's 25 timesteps reproduces the UnCLIP scheduler (same seed, same model).
    func testDDPMReproducesUnCLIP() throws {
        var unclipConfig = UnCLIPScheduler.Configuration()
        unclipConfig.varianceType = .learnedRange
        var unclip = try UnCLIPScheduler(configuration: unclipConfig)
        try unclip.setTimesteps(25)
        var ddpmConfig = DDPMScheduler.Configuration()
        ddpmConfig.betaSchedule = .squaredcosCapV2
        ddpmConfig.varianceType = .learnedRange
        var ddpm = try DDPMScheduler(configuration: ddpmConfig)
        try ddpm.setTimesteps(custom: unclip.timesteps)
        var a = SchedulerLoopTests.dummySample([4, 3, 8, 8]), b = a
        var ra = TorchRandomSource(seed: 5), rb = TorchRandomSource(seed: 5)
        for (i, t) in unclip.timesteps.enumerated() {
            a = unclip.step(modelOutput: dummyModel(a, Float(t), learnedVariance: true), timestep: t, sample: a, random: &ra).prevSample
            b = ddpm.step(modelOutput: dummyModel(b, Float(t), learnedVariance: true), timestep: t, sample: b, random: &rb).prevSample
            // The last step (t = 0 → −1) differs by design: UnCLIP takes the table's β₀ as "prev = t − 1",
            // so x̂₀'s coefficient is β₀/(1 − ᾱ₀) = 0.99947 in Float; DDPM recomputes β = 1 − ᾱ₀ and gets 1.
            assertClose(b, a, relTol: i == unclip.timesteps.count - 1 ? 2e-3 : 1e-5, "DDPM vs UnCLIP after step \(i)")
        }
    }

    /// `linear` and `scaled_linear` tables equal torch's bit for bit (torch.linspace, cumprod in double).
    func testBetaTablesBitExact() throws {
        let file = try SchedulerFixtures.loops()
        for (name, schedule, start, end) in [("linear", BetaSchedule.linear, 0.0001, 0.02),
                                             ("scaled_linear", .scaledLinear, 0.00085, 0.012)] {
            let table = NoiseSchedule(count: 1000, schedule: schedule, betaStart: start, betaEnd: end)
            assertBitwiseEqual(table.betas, try file.goldenTensor("table.\(name).betas").scalars, "\(name) betas")
            assertBitwiseEqual(table.alphasCumprod, try file.goldenTensor("table.\(name).alphas_cumprod").scalars,
                               "\(name) alphas_cumprod")
        }
    }

    /// diffusers' dummy_sample_deter: arange(768)/768 reshaped (3, 8, 8, 4), permuted to (4, 3, 8, 8);
    /// other shapes are that tensor reshaped.
    static func dummySample(_ shape: [Int]) -> Tensor {
        let n = 768
        let t = Tensor(uninitialized: [4, 3, 8, 8])
        for b in 0..<4 {
            for c in 0..<3 {
                for h in 0..<8 {
                    for w in 0..<8 {
                        let src = ((c * 8 + h) * 8 + w) * 4 + b
                        t.data[((b * 3 + c) * 8 + h) * 8 + w] = Float(src) / Float(n)
                    }
                }
            }
        }
        return t.reshaped(shape)
    }
}
