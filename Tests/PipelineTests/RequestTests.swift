// Issue #14: one request model in Pipeline. Every option is resolved and checked before any compute, each error names
// its field (as a server's `param`), every limit has a test, and the PNG `parameters` text comes from the request.
import Foundation
@testable import Pipeline
import Schedulers
import XCTest

final class RequestTests: XCTestCase {
    private func weights() throws -> UnCLIPWeights { try PipelineFixtures.weights("tiny-a") }

    private func assertField(_ field: RequestField, _ fragment: String, file: StaticString = #filePath, line: UInt = #line,
                             _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? RequestError else { return XCTFail("expected a RequestError, got \(error)", file: file, line: line) }
            XCTAssertEqual(e.field, field, "\(e)", file: file, line: line)
            XCTAssertTrue(e.description.contains(fragment), "'\(fragment)' not in '\(e)'", file: file, line: line)
        }
    }

    private func options(_ edit: (inout GenerationOptions) -> Void) -> GenerationOptions {
        var o = GenerationOptions()
        edit(&o)
        return o
    }

    func testLimitsOfTheOptions() throws {
        let w = try weights()
        let prompt = RequestInput.prompt("a red circle")
        assertField(.n, "n must be between 1 and 256, got 0") { _ = try w.resolve(prompt, options { $0.count = 0 }) }
        assertField(.n, "got 257") { _ = try w.resolve(prompt, options { $0.count = 257 }) }
        XCTAssertNoThrow(try options { $0.count = 256 }.validate())
        var few = RequestLimits()
        few.maxImages = 10
        assertField(.n, "between 1 and 10, got 11") { try options { $0.count = 11 }.validate(limits: few) }
        assertField(.decoderSteps, "decoder_steps must be between 1 and 1000, got 0") { _ = try w.resolve(prompt, options { $0.decoder.steps = 0 }) }
        assertField(.priorSteps, "got 1001") { _ = try w.resolve(prompt, options { $0.prior.steps = 1001 }) }
        assertField(.superResSteps, "got -3") { _ = try w.resolve(prompt, options { $0.superRes.steps = -3 }) }
        assertField(.priorGuidanceScale, "must be a number ≥ 0, got nan") { _ = try w.resolve(prompt, options { $0.prior.guidanceScale = .nan }) }
        assertField(.decoderGuidanceScale, "got -1.0") { _ = try w.resolve(prompt, options { $0.decoder.guidanceScale = -1 }) }
        assertField(.eta, "eta must be a number ≥ 0, got -0.5") { _ = try w.resolve(prompt, options { $0.eta = -0.5 }) }
        assertField(.size, "size must be a positive side length, got 0") { _ = try w.resolve(prompt, options { $0.size = 0 }) }
        assertField(.decoderScheduler, "unknown scheduler 'frobnicate'") {
            _ = try w.resolve(prompt, options { $0.decoder.scheduler = .named("frobnicate") })
        }
    }

    func testChecksThatNeedTheWeightsFile() throws {
        let w = try weights()
        let prompt = RequestInput.prompt("a red circle")
        assertField(.size, "size 100 is not available with these weights: use 16 (decoder only) or 64 (with super-resolution)") {
            _ = try w.resolve(prompt, options { $0.size = 100 })
        }
        XCTAssertEqual(try w.resolve(prompt, options { $0.size = 16 }).size, .decoder)
        XCTAssertEqual(try w.resolve(prompt, options { $0.size = 64 }).size, .superRes)
        XCTAssertEqual(try w.resolve(prompt, GenerationOptions()).size, .superRes)
        assertField(.eta, "applies to the DDIM sampler only") { _ = try w.resolve(prompt, options { $0.eta = 0.5 }) }
        XCTAssertNoThrow(try w.resolve(prompt, options { $0.eta = 0.5; $0.decoder.scheduler = .named("DDIM") }))
        assertField(.superResSteps, "super_res_steps: UnCLIPScheduler: cannot use 1 inference steps") {
            _ = try w.resolve(prompt, options { $0.superRes.steps = 1 })
        }
        assertField(.priorScheduler, "prior_scheduler: EulerAncestralDiscreteScheduler") {
            _ = try w.resolve(prompt, options { $0.prior.scheduler = .named("euler-a") })
        }
        assertField(.decoderScheduler, "decoder_scheduler: ") {
            _ = try w.resolve(prompt, options { $0.decoder.scheduler = .config(Data("{not json".utf8), label: "bad.json") })
        }
        // A super-res scheduler is not built, nor checked, when the size skips the stage.
        XCTAssertNil(try w.resolve(prompt, options { $0.size = 16; $0.superRes.steps = 1 }).superResScheduler)
    }

    func testPromptAndImageLimits() throws {
        let w = try weights()
        XCTAssertNoThrow(try w.resolve(.prompt(String(repeating: "a", count: 10_000)), GenerationOptions()))
        assertField(.prompt, "prompt is 10001 characters, over the limit of 10000") {
            _ = try w.resolve(.prompt(String(repeating: "a", count: 10_001)), GenerationOptions())
        }
        func image(_ width: Int, _ height: Int) throws -> RequestInput {
            .image(try InputImage(width: width, height: height, channels: 1, pixels: [UInt8](repeating: 128, count: width * height)), name: "x.png")
        }
        assertField(.image, "image is 16384×1: sides more than 16:1 apart are not accepted") {
            _ = try w.resolve(try image(16384, 1), GenerationOptions())
        }
        XCTAssertNoThrow(try w.resolve(try image(16, 1), GenerationOptions()))
        assertField(.image, "image is 4097×4096 = 16781312 pixels, over the limit of 16777216") {
            try image(4097, 4096).validate()
        }
        XCTAssertNoThrow(try image(4096, 4096).validate())
    }

    func testDefaultsSeedsAndTheParametersText() throws {
        let w = try weights()
        let r = try w.resolve(.prompt("a red circle"), options { $0.seed = 42; $0.count = 2; $0.decoder.scheduler = .named("ddim") })
        XCTAssertFalse(r.seedIsRandom)
        XCTAssertEqual(r.settings, SamplingDefaults())                       // tiny-a has no sampling_defaults: diffusers'
        XCTAssertEqual(r.decoderLabel, "ddim")
        XCTAssertEqual(r.priorLabel, "unclip")
        XCTAssertEqual(r.textToImage?.noise, .perImage(seed: 42))
        XCTAssertNil(r.variation)
        XCTAssertEqual(r.parameters(ofImage: 1, width: 64, height: 64, model: "tiny").text,
                       "a red circle\nSteps: 25, Sampler: ddim, CFG scale: 8.0, Seed: 43, Size: 64x64, Model: tiny, "
                       + "Prior steps: 25, Prior CFG scale: 4.0, Prior sampler: unclip, SR steps: 7, SR sampler: unclip, "
                       + "RNG: torch, Noise: per image, seed+k")
        let random = try w.resolve(.prompt("x"), GenerationOptions())
        XCTAssertTrue(random.seedIsRandom)
        let variation = try w.resolve(.image(try InputImage(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 9, count: 12)),
                                             name: "src.png"), options { $0.seed = 1; $0.size = 16 })
        XCTAssertNil(variation.textToImage)
        XCTAssertEqual(variation.variation?.imagesPerImage, 1)
        XCTAssertEqual(variation.parameters(ofImage: 0, width: 16, height: 16, model: "m").text,
                       "\nSteps: 25, Sampler: unclip, CFG scale: 8.0, Seed: 1, Size: 16x16, Model: m, Variation of: src.png, SR: off, "
                       + "RNG: torch, Noise: per image, seed+k")
    }
}
