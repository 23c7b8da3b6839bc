// Scheduler configs from diffusers JSON (Karlo's scheduler_config.json texts, unclip-architecture.md §2.1),
// the registry's names and class names, and the errors for what is not supported.
import Foundation
import Random
import Schedulers
import TensorCore
import XCTest

final class SchedulerConfigTests: XCTestCase {
    static let karloPrior = """
    { "_class_name": "UnCLIPScheduler", "_diffusers_version": "0.11.0.dev0", "clip_sample": true,
      "clip_sample_range": 5.0, "num_train_timesteps": 1000, "prediction_type": "sample",
      "variance_type": "fixed_small_log" }
    """
    static let karloDecoder = """
    { "_class_name": "UnCLIPScheduler", "_diffusers_version": "0.12.0.dev0", "clip_sample": true,
      "clip_sample_range": 1.0, "num_train_timesteps": 1000, "prediction_type": "epsilon",
      "variance_type": "learned_range" }
    """
    static let karloSuperRes = """
    { "_class_name": "UnCLIPScheduler", "clip_sample": true, "clip_sample_range": 1.0,
      "num_train_timesteps": 1000, "prediction_type": "epsilon", "variance_type": "fixed_small_log" }
    """

    func make(_ json: String) throws -> any Scheduler { try SchedulerRegistry.standard.make(config: Data(json.utf8)) }
    func make(_ name: String, _ json: String?) throws -> any Scheduler {
        try SchedulerRegistry.standard.make(name: name, config: json.map { Data($0.utf8) })
    }

    /// The error a closure throws, as a SchedulerError.
    func schedulerError(_ body: () throws -> Any) -> SchedulerError? {
        do { _ = try body(); return nil } catch let e as SchedulerError { return e } catch { return nil }
    }

    func testKarloConfigs() throws {
        let prior = try XCTUnwrap(try make(Self.karloPrior) as? UnCLIPScheduler)
        XCTAssertEqual(prior.configuration.predictionType, .sample)
        XCTAssertEqual(prior.configuration.clipSampleRange, 5.0)
        XCTAssertEqual(prior.configuration.varianceType, .fixedSmallLog)
        XCTAssertEqual(prior.configuration.betaSchedule, .squaredcosCapV2)
        let decoder = try XCTUnwrap(try make(Self.karloDecoder) as? UnCLIPScheduler)
        XCTAssertEqual(decoder.configuration.varianceType, .learnedRange)
        XCTAssertEqual(decoder.configuration.predictionType, .epsilon)
        var superRes = try XCTUnwrap(try make(Self.karloSuperRes) as? UnCLIPScheduler)
        XCTAssertEqual(superRes.configuration, UnCLIPScheduler.Configuration())
        try superRes.setTimesteps(25)
        XCTAssertEqual(superRes.timesteps, [999, 957, 916, 874, 832, 791, 749, 708, 666, 624, 583, 541, 500, 458, 416,
                                            375, 333, 291, 250, 208, 166, 125, 83, 42, 0])
        XCTAssertEqual(superRes.initNoiseSigma, 1)
    }

    /// A short name plus another class's config reads it like diffusers' `from_config(pipe.scheduler.config)`:
    /// UnCLIPScheduler's defaults (squaredcos_cap_v2) carry over, keys the target lacks are ignored.
    func testRegistryNamesWithKarloConfig() throws {
        let ddim = try XCTUnwrap(try make("ddim", Self.karloDecoder) as? DDIMScheduler)
        XCTAssertEqual(ddim.configuration.betaSchedule, .squaredcosCapV2)
        XCTAssertEqual(ddim.configuration.clipSample, true)
        XCTAssertEqual(ddim.configuration.timestepSpacing, .leading)
        XCTAssertEqual(ddim.schedule, try UnCLIPScheduler(configuration: .init()).schedule)

        let ddpm = try XCTUnwrap(try make("ddpm", Self.karloDecoder) as? DDPMScheduler)
        XCTAssertEqual(ddpm.configuration.varianceType, .learnedRange)

        let karras = try XCTUnwrap(try make("dpmpp-2m-karras", Self.karloPrior) as? DPMSolverMultistepScheduler)
        XCTAssertTrue(karras.configuration.useKarrasSigmas)
        XCTAssertEqual(karras.configuration.predictionType, .sample)
        XCTAssertEqual(karras.configuration.solverOrder, 2)
        let plain = try XCTUnwrap(try make("dpmpp-2m", nil) as? DPMSolverMultistepScheduler)
        XCTAssertFalse(plain.configuration.useKarrasSigmas)
        XCTAssertEqual(plain.configuration.betaSchedule, .linear)

        var unclip = try make("UNCLIP", Self.karloPrior)
        try unclip.setTimesteps(7)
        XCTAssertEqual(unclip.timesteps, [999, 832, 666, 500, 333, 166, 0])
        XCTAssertTrue(try make("euler-a", Self.karloDecoder) is EulerAncestralDiscreteScheduler)
        XCTAssertEqual(SchedulerRegistry.standard.names, ["unclip", "ddim", "ddpm", "dpmpp-2m", "dpmpp-2m-karras", "euler-a"])
    }

    /// Every built-in name makes a scheduler that runs a 4-step loop on Karlo's decoder config (6-channel output).
    func testEveryNameRunsOnKarloDecoder() throws {
        for name in SchedulerRegistry.standard.names {
            var s = try make(name, Self.karloDecoder)
            try s.setTimesteps(4)
            var x = SchedulerLoopTests.dummySample([4, 3, 8, 8])
            var rng = TorchRandomSource(seed: 1)
            for (i, t) in s.timesteps.enumerated() {
                let out = dummyModel(s.scaleModelInput(x, timestep: t), s.modelTimesteps[i], learnedVariance: true)
                x = s.step(modelOutput: out, timestep: t, sample: x, random: &rng).prevSample
            }
            XCTAssertEqual(x.shape, [4, 3, 8, 8], name)
            XCTAssertTrue(x.scalars.allSatisfy { $0.isFinite }, name)
        }
    }

    /// Python's bare `-Infinity` (diffusers writes it for lambda_min_clipped), `null`s, and unknown keys.
    func testDiffusersJSONQuirks() throws {
        let json = """
        {"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "variance_type": null,
         "trained_betas": null, "some_future_key": [1, 2], "note": "-Infinity stays a string"}
        """
        let dpm = try XCTUnwrap(try make(json) as? DPMSolverMultistepScheduler)
        XCTAssertEqual(dpm.configuration.lambdaMinClipped, -.infinity)
        XCTAssertNil(dpm.configuration.varianceType)
        // λ clipping shortens the cosine chain (λ₉₉₉ ≈ −9.9): diffusers gives 995, 896, …, 100 for 10 steps.
        var clipped = try XCTUnwrap(try make(#"""
            {"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -5.1, "beta_schedule": "squaredcos_cap_v2"}
            """#) as? DPMSolverMultistepScheduler)
        try clipped.setTimesteps(10)
        XCTAssertEqual(clipped.timesteps, [995, 896, 796, 696, 597, 498, 398, 298, 199, 100])
    }

    /// Configurations survive encode → decode (diffusers keys both ways).
    func testConfigurationRoundTrip() throws {
        var ddim = DDIMScheduler.Configuration()
        ddim.eta = 0.5; ddim.timestepSpacing = .trailing; ddim.trainedBetas = nil; ddim.predictionType = .vPrediction
        let data = try JSONEncoder().encode(ddim)
        XCTAssertEqual(try JSONDecoder().decode(DDIMScheduler.Configuration.self, from: data), ddim)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"timestep_spacing\":\"trailing\""), text)
        XCTAssertTrue(text.contains("\"prediction_type\":\"v_prediction\""), text)
    }

    func testErrors() {
        // Unknown class and unknown name list what is known.
        let unknownClass = schedulerError { try self.make(#"{"_class_name": "PNDMScheduler"}"#) }
        XCTAssertEqual(unknownClass, .unknownScheduler(name: "PNDMScheduler", known: ["UnCLIPScheduler", "DDIMScheduler",
            "DDPMScheduler", "DPMSolverMultistepScheduler", "EulerAncestralDiscreteScheduler"]))
        XCTAssertEqual(schedulerError { try self.make("ddim", #"{"_class_name": "PNDMScheduler"}"#) }?.description.contains("PNDMScheduler"), true)
        let unknownName = schedulerError { try self.make("heun", nil) }
        XCTAssertEqual(unknownName?.description, "unknown scheduler 'heun' (known: unclip, ddim, ddpm, dpmpp-2m, dpmpp-2m-karras, euler-a)")
        // Bad values name the key and the allowed values.
        let badPrediction = schedulerError { try self.make(#"{"_class_name": "DDIMScheduler", "prediction_type": "x0"}"#) }
        XCTAssertEqual(badPrediction, .invalidValue(key: "prediction_type", value: "\"x0\"",
                                                    expected: "one of \"epsilon\", \"sample\", \"v_prediction\""))
        let badType = schedulerError { try self.make(#"{"_class_name": "UnCLIPScheduler", "num_train_timesteps": "1000"}"#) }
        XCTAssertEqual(badType, .invalidValue(key: "num_train_timesteps", value: "\"1000\"", expected: "an integer"))
        XCTAssertEqual(schedulerError { try self.make(#"{"_class_name": "DDPMScheduler", "beta_schedule": "sigmoid"}"#) }?
            .description.hasPrefix("scheduler config: beta_schedule = \"sigmoid\" is not supported"), true)
        XCTAssertEqual(schedulerError { try self.make(#"{"_class_name": "DPMSolverMultistepScheduler", "solver_order": 4}"#) },
                       .invalidValue(key: "solver_order", value: "4", expected: "1, 2 or 3"))
        // Options diffusers has and this engine does not.
        XCTAssertEqual(schedulerError { try self.make(#"{"_class_name": "DDIMScheduler", "thresholding": true}"#) },
                       .unsupported(scheduler: "DDIMScheduler", option: "thresholding"))
        XCTAssertNotNil(schedulerError { try self.make(#"{"_class_name": "UnCLIPScheduler", "beta_schedule": "linear"}"#) })
        XCTAssertNotNil(schedulerError { try self.make(#"{"_class_name": "DDPMScheduler", "variance_type": "fixed_large_log"}"#) })
        XCTAssertNotNil(schedulerError { try self.make(#"{"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver"}"#) })
        XCTAssertNotNil(schedulerError { try self.make("euler-a", Self.karloPrior) }, "Euler has no sample prediction")
        // Not a config at all.
        XCTAssertEqual(schedulerError { try self.make("[1, 2]") }, .malformedConfig("expected a JSON object"))
        XCTAssertNotNil(schedulerError { try self.make("{not json") })
        XCTAssertEqual(schedulerError { try self.make(#"{"clip_sample": true}"#) },
                       .malformedConfig("no \"_class_name\" string: cannot tell which scheduler to build"))
    }

    func testStepCountErrors() throws {
        var unclip = try UnCLIPScheduler(configuration: .init())
        XCTAssertThrowsError(try unclip.setTimesteps(1))
        XCTAssertThrowsError(try unclip.setTimesteps(1001))
        var ddim = try DDIMScheduler(configuration: .init())
        XCTAssertThrowsError(try ddim.setTimesteps(0))
        XCTAssertNoThrow(try ddim.setTimesteps(1))
        var ddpm = try DDPMScheduler(configuration: .init())
        XCTAssertThrowsError(try ddpm.setTimesteps(custom: [500, 700, 0]))
        XCTAssertThrowsError(try ddpm.setTimesteps(custom: [1000, 0]))
        XCTAssertEqual(schedulerError { try unclip.setTimesteps(1) }?.description,
                       "UnCLIPScheduler: cannot use 1 inference steps (needs 2…1000)")
    }
}
