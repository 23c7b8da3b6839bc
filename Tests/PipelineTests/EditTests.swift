// Edits (issue #15, part 2): the kept pixels are the input byte for byte, OpenAI's alpha rule equals an explicit mask,
// RePaint resampling and SDEdit image-to-image run, and every bad request names its field. On the built-in model, a
// half-picture edit takes the prompted background colour.
import Foundation
@testable import Pipeline
import Schedulers
import TensorCore
import XCTest

final class EditTests: XCTestCase {
    /// A `side`² RGBA picture: a smooth gradient, with alpha 0 on the columns `< transparentColumns`.
    static func picture(side: Int, transparentColumns: Int = 0) throws -> InputImage {
        var px = [UInt8]()
        for y in 0..<side {
            for x in 0..<side {
                px += [UInt8(x * 255 / max(side - 1, 1)), UInt8(y * 255 / max(side - 1, 1)), 90, x < transparentColumns ? 0 : 255]
            }
        }
        return try InputImage(width: side, height: side, channels: 4, pixels: px)
    }

    private func request(_ image: InputImage, mask: EditMask? = nil, seed: UInt64 = 1, resamples: Int = 1,
                         strength: Float = 1, imageWeight: Float = 0) -> EditRequest {
        EditRequest(image: image, mask: mask ?? EditMask(alphaOf: image), prompt: "a red circle", imageWeight: imageWeight,
                    strength: strength, resamples: resamples, jumpLength: 2,
                    prior: StageOptions(steps: 3, guidanceScale: 4), decoder: StageOptions(steps: 4, guidanceScale: 8),
                    superRes: StageOptions(steps: 2), noise: .perImage(seed: seed))
    }

    func testKeptPixelsAreTheInputByteForByte() throws {
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        for side in [64, 50, 100] {                                          // the model's size, smaller, larger
            let image = try Self.picture(side: side, transparentColumns: side / 2)
            let result = try pipeline.edit(request(image))
            let out = result.images[0], rgb = image.rgb
            XCTAssertEqual([out.width, out.height], [side, side])
            var keptEqual = true, editedChanged = false
            for p in 0..<(side * side) {
                let kept = p % side >= side / 2
                for c in 0..<3 {
                    if kept && out.pixels[p * 3 + c] != rgb[p * 3 + c] { keptEqual = false }
                    if !kept && out.pixels[p * 3 + c] != rgb[p * 3 + c] { editedChanged = true }
                }
            }
            XCTAssertTrue(keptEqual, "side \(side): a kept pixel changed")
            XCTAssertTrue(editedChanged, "side \(side): nothing was generated")
        }
    }

    func testAlphaRuleEqualsAnExplicitMaskAndResamplingRuns() throws {
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        let image = try Self.picture(side: 64, transparentColumns: 20)
        let explicit = try EditMask(width: 64, height: 64, editable: (0..<(64 * 64)).map { $0 % 64 < 20 })
        XCTAssertEqual(EditMask(alphaOf: image), explicit)
        let a = try pipeline.edit(request(image)), b = try pipeline.edit(request(image, mask: explicit))
        XCTAssertEqual(a.images, b.images)
        var steps = 0
        let resampled = try pipeline.edit(request(image, resamples: 3),
                                          hooks: PipelineHooks(progress: { if $0.stage == .decoder { steps = $0.stepCount } }))
        XCTAssertEqual(steps, try RePaintPlan(steps: 4, jumpLength: 2, resamples: 3).denoiseCount)
        XCTAssertNotEqual(resampled.images, a.images)
        XCTAssertEqual(Array(resampled.images[0].pixels[(30 * 3)..<(40 * 3)]), Array(image.rgb[(30 * 3)..<(40 * 3)]))
    }

    func testImageToImageWhenNothingIsTransparent() throws {
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        let image = try Self.picture(side: 64)
        XCTAssertEqual(EditMask(alphaOf: image).editableCount, 64 * 64)
        // Half strength skips the noisier half of the decoder's 4 steps (super-res always runs all of its own).
        var stepCounts: [Stage: Int] = [:]
        _ = try pipeline.edit(request(image, strength: 0.5), hooks: PipelineHooks(progress: { stepCounts[$0.stage] = $0.stepCount }))
        XCTAssertEqual(stepCounts, [.prior: 3, .decoder: 2, .superRes: 2])
        XCTAssertNoThrow(try pipeline.edit(request(image, imageWeight: 0.5)))    // prior + the picture's own embedding
    }

    func testBadRequestsNameTheirField() throws {
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        let square = try Self.picture(side: 32, transparentColumns: 8)
        let wide = try InputImage(width: 4, height: 2, channels: 3, pixels: [UInt8](repeating: 1, count: 24))
        let cases: [(EditRequest, RequestField, String)] = [
            (request(wide, mask: try EditMask(width: 4, height: 2, editable: [Bool](repeating: true, count: 8))), .image,
             "image is 4×2: edits take a square picture"),
            (request(square, mask: try EditMask(width: 16, height: 16, editable: [Bool](repeating: true, count: 256))), .mask,
             "mask is 16×16, but the image is 32×32"),
            (request(square, mask: try EditMask(width: 32, height: 32, editable: [Bool](repeating: false, count: 1024))), .mask,
             "mask marks no pixel to edit"),
            (request(square, strength: 0), .strength, "strength must be in (0, 1], got 0.0"),
            (request(square, strength: 1.5), .strength, "got 1.5"),
            (request(square, imageWeight: -0.1), .imageWeight, "image_weight must be in [0, 1]"),
            (request(square, resamples: 0), .resample, "must be at least 1"),
        ]
        for (r, field, message) in cases {
            XCTAssertThrowsError(try pipeline.edit(r)) { error in
                XCTAssertEqual((error as? RequestError)?.field, field, "\(error)")
                XCTAssertTrue("\(error)".contains(message), "'\(message)' not in '\(error)'")
            }
        }
        var euler = request(square)
        euler.decoder.scheduler = try pipeline.weights.makeScheduler(for: .decoder, name: "dpmpp-2m")
        XCTAssertThrowsError(try pipeline.edit(euler)) { XCTAssertTrue("\($0)".contains("RePaint resampling"), "\($0)") }
    }

    /// The built-in model: the left half of a red-circle-on-blue picture regenerated under "… on a green background"
    /// (its recommended settings). The kept half is exact; the edited half's mean colour is nearest to green on most seeds.
    func testBuiltInModelFillsTheEditedHalfWithThePromptedColour() throws {
        let weights = try UnCLIPWeights(path: BuiltinQualityTests.weightsPath)
        let s = weights.samplingDefaults
        let source = try UnCLIPPipeline(weights: weights).generate(
            TextToImageRequest(prompt: "a red circle on a blue background", prior: s.prior, decoder: s.decoder,
                               superRes: s.superRes, noise: .perImage(seed: 3)))
        let px = source.images[0].pixels
        var rgba = [UInt8]()
        for p in 0..<(256 * 256) { rgba += [px[p * 3], px[p * 3 + 1], px[p * 3 + 2], p % 256 < 128 ? 0 : 255] }
        let image = try InputImage(width: 256, height: 256, channels: 4, pixels: rgba)
        let pipeline = try UnCLIPInpaintPipeline(weights: weights)
        let palette: [(String, [Double])] = [("green", [0, 160, 60]), ("blue", [20, 60, 230]), ("red", [220, 30, 30]),
                                             ("yellow", [240, 220, 30])]
        var hits = 0, shapes = 0, seamAcross = 0.0, seamInside = 0.0
        let seeds: [UInt64] = [1, 2, 3, 4, 5]
        for seed in seeds {
            let out = try pipeline.edit(EditRequest(image: image, mask: EditMask(alphaOf: image),
                                                    prompt: "a yellow square on a green background", prior: s.prior,
                                                    decoder: s.decoder, superRes: s.superRes, noise: .perImage(seed: seed))).images[0]
            var mean = [0.0, 0.0, 0.0], kept = true, yellow = 0
            for y in 0..<256 {
                for x in 0..<256 {
                    for c in 0..<3 {
                        let v = out.pixels[(y * 256 + x) * 3 + c]
                        if x < 128 { mean[c] += Double(v) / (128 * 256) } else if v != px[(y * 256 + x) * 3 + c] { kept = false }
                    }
                    let p = (y * 256 + x) * 3
                    if x < 128, out.pixels[p] > 180, out.pixels[p + 1] > 160, out.pixels[p + 2] < 100 { yellow += 1 }
                    if x == 128 || x == 64 {
                        let d = (0..<3).reduce(0.0) { $0 + abs(Double(out.pixels[(y * 256 + x) * 3 + $1]) - Double(out.pixels[(y * 256 + x - 1) * 3 + $1])) }
                        if x == 128 { seamAcross += d / Double(256 * seeds.count) } else { seamInside += d / Double(256 * seeds.count) }
                    }
                }
            }
            XCTAssertTrue(kept, "seed \(seed): the kept half changed")
            let nearest = palette.min { a, b in
                zip(a.1, mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } < zip(b.1, mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            }!.0
            if nearest == "green" { hits += 1 }
            if yellow >= 128 * 256 / 100 { shapes += 1 }                          // ≥ 1% of the half is yellow
            print("edit seed \(seed): edited-half mean \(mean.map { Int($0) }) → \(nearest), yellow pixels \(yellow)")
        }
        print("built-in edit: \(hits)/\(seeds.count) seeds green, \(shapes)/\(seeds.count) with a yellow shape; mean |ΔRGB| across the mask edge \(String(format: "%.1f", seamAcross)), "
              + "inside the edit \(String(format: "%.1f", seamInside))")
        XCTAssertGreaterThanOrEqual(hits, 4)
        XCTAssertGreaterThanOrEqual(shapes, 3)

        // Image-to-image (nothing transparent): a low strength stays near the picture, full strength redraws it.
        let opaque = try InputImage(width: 256, height: 256, channels: 3, pixels: px)
        func distance(_ strength: Float) throws -> Double {
            let out = try pipeline.edit(EditRequest(image: opaque, mask: EditMask(alphaOf: opaque), prompt: "a yellow square on a green background",
                                                    strength: strength, prior: s.prior, decoder: s.decoder, superRes: s.superRes,
                                                    noise: .perImage(seed: 1))).images[0]
            return zip(out.pixels, px).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(px.count)
        }
        let low = try distance(0.3), full = try distance(1)
        print("built-in image-to-image: mean |Δ| from the picture \(String(format: "%.1f", low)) at strength 0.3, \(String(format: "%.1f", full)) at 1")
        XCTAssertLessThan(low, full / 2)
    }
}
