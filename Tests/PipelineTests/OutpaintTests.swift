// Outpainting (issue #15, part 3): the canvas grows, overlapping windows fill every new pixel from what is already
// there, the original pixels stay byte for byte, and the canvas limit and margins are checked.
import Foundation
@testable import Pipeline
import XCTest

final class OutpaintTests: XCTestCase {
    private func request(_ image: InputImage, left: Int = 0, right: Int = 0, top: Int = 0, bottom: Int = 0) -> OutpaintRequest {
        OutpaintRequest(image: image, left: left, right: right, top: top, bottom: bottom, prompt: "a red circle",
                        prior: StageOptions(steps: 2, guidanceScale: 4), decoder: StageOptions(steps: 2, guidanceScale: 8),
                        superRes: StageOptions(steps: 2), seed: 5)
    }

    func testTheWindowGridOverlapsAndCoversTheCanvas() {
        let grid = OutpaintWindows(width: 200, height: 64, side: 64)
        let xs = Array(Set(grid.positions.map(\.x))).sorted()
        XCTAssertEqual(xs, [0, 48, 96, 136])                                       // stride 48 = ¾ of 64, last flush
        XCTAssertEqual(Set(grid.positions.map(\.y)), [0])
        for (a, b) in zip(xs, xs.dropFirst()) { XCTAssertGreaterThanOrEqual(64 - (b - a), 16, "overlap ≥ ¼") }
        var known = [Bool](repeating: false, count: 200 * 64)
        for y in 0..<64 { for x in 0..<64 { known[y * 200 + x] = true } }         // the picture on the left
        XCTAssertEqual(grid.next(known: known)?.x, 48)                            // the window that overlaps it most
        // Filling window after window covers the canvas, each new window overlapping what is known by ≥ ¼.
        var filled = 0
        while let w = grid.next(known: known) {
            XCTAssertGreaterThanOrEqual(w.knownShare, 0.25)
            for y in w.y..<(w.y + 64) { for x in w.x..<(w.x + 64) { known[y * 200 + x] = true } }
            filled += 1
        }
        XCTAssertEqual(filled, 3)
        XCTAssertTrue(known.allSatisfy { $0 })
    }

    func testOriginalPixelsStayAndEveryNewPixelIsFilled() throws {
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        let image = try EditTests.picture(side: 64)
        var windows = 0
        var hooks = PipelineHooks()
        hooks.note = { if $0.hasPrefix("outpaint window") { windows += 1 } }
        let out = try pipeline.outpaint(request(image, left: 30, bottom: 20), hooks: hooks).images[0]
        XCTAssertEqual([out.width, out.height], [94, 84])
        XCTAssertEqual(windows, 3)                // of the 2×2 grid, the window at (30, 0) is all picture: skipped
        let rgb = image.rgb
        var kept = true
        for y in 0..<84 {
            for x in 0..<94 {
                let p = (y * 94 + x) * 3
                let o: [UInt8] = Array(out.pixels[p..<(p + 3)])
                if y < 64 && x >= 30 {
                    let q = (y * 64 + x - 30) * 3
                    if o != Array(rgb[q..<(q + 3)]) { kept = false }
                }
            }
        }
        XCTAssertTrue(kept, "an original pixel changed")
    }

    func testCanvasLimitsAndMargins() throws {
        let pipeline = try UnCLIPInpaintPipeline(weights: PipelineFixtures.weights("tiny-a"))
        let image = try EditTests.picture(side: 32)
        for (r, message) in [(request(image), "margins must be ≥ 0 with at least one > 0"),
                             (request(image, left: -4, right: 8), "got left -4"),
                             (request(image, right: 2017), "would be 2049×32, over the limit of 2048 pixels a side")] {
            XCTAssertThrowsError(try pipeline.outpaint(r)) { error in
                XCTAssertEqual((error as? RequestError)?.field, .canvas, "\(error)")
                XCTAssertTrue("\(error)".contains(message), "'\(message)' not in '\(error)'")
            }
        }
    }

    /// The built-in model: a strip added to the right of a red-circle-on-blue picture continues the blue background.
    func testBuiltInModelContinuesTheBackground() throws {
        let weights = try UnCLIPWeights(path: BuiltinQualityTests.weightsPath)
        let s = weights.samplingDefaults
        let source = try UnCLIPPipeline(weights: weights).generate(
            TextToImageRequest(prompt: "a red circle on a blue background", prior: s.prior, decoder: s.decoder,
                               superRes: s.superRes, noise: .perImage(seed: 3))).images[0]
        let image = try InputImage(width: 256, height: 256, channels: 3, pixels: source.pixels)
        let out = try UnCLIPInpaintPipeline(weights: weights).outpaint(
            OutpaintRequest(image: image, right: 64, prompt: "a red circle on a blue background", prior: s.prior,
                            decoder: s.decoder, superRes: s.superRes, seed: 1)).images[0]
        var mean = [0.0, 0.0, 0.0]
        for y in 0..<256 { for x in 256..<320 { for c in 0..<3 { mean[c] += Double(out.pixels[(y * 320 + x) * 3 + c]) / (64 * 256) } } }
        print("built-in outpaint: new strip mean \(mean.map { Int($0) })")
        XCTAssertGreaterThan(mean[2], 150, "the strip is not blue: \(mean)")
        XCTAssertLessThan(mean[0], 100, "\(mean)")
        XCTAssertEqual(Array(out.pixels[0..<(256 * 3)]), Array(source.pixels[0..<(256 * 3)]))   // first row kept
    }
}
