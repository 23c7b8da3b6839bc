// Quality test of the built-in model (weights/unclip-builtin.safetensors): the prompt set and pixel classifier of
// scripts/builtin_eval.py (Tests/Fixtures/builtin/eval.json), rendered by the Swift pipeline at default settings.
import Foundation
import ImageIO
@testable import Pipeline
import TensorCore
import XCTest

/// The prompt set written by `scripts/builtin_eval.py --write-prompts`.
struct BuiltinEval: Decodable {
    struct Prompt: Decodable {
        var prompt: String
        var colour: String
        var background: String
        var shape: String
        var heldout: Bool
        var seed: UInt64
    }
    var maxDist: Double
    var minFraction: Double
    var border: Int
    var palette: [String: [Double]]
    var prompts: [Prompt]

    enum CodingKeys: String, CodingKey {
        case palette, prompts, border
        case maxDist = "max_dist", minFraction = "min_fraction"
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func load() throws -> BuiltinEval {
        let url = root.appendingPathComponent("Tests/Fixtures/builtin/eval.json")
        return try JSONDecoder().decode(BuiltinEval.self, from: Data(contentsOf: url))
    }

    /// scripts/builtin_eval.py `classify`: (background, shape colour); nil where nothing qualifies.
    func classify(_ image: GeneratedImage) -> (background: String?, shape: String?) {
        let names = palette.keys.sorted { a, b in order(a) < order(b) }
        let colours = names.map { palette[$0]! }                                     // [K][3], palette order
        let w = image.width, h = image.height
        var frame = [Int](repeating: 0, count: names.count), all = [Int](repeating: 0, count: names.count)
        for y in 0..<h {
            for x in 0..<w {
                var best = -1, bestD = Double.infinity
                for (k, p) in colours.enumerated() {
                    var d = 0.0
                    for c in 0..<3 { let v = Double(image.pixels[(y * w + x) * 3 + c]) - p[c]; d += v * v }
                    if d < bestD { bestD = d; best = k }
                }
                guard bestD.squareRoot() <= maxDist else { continue }
                all[best] += 1
                // The Python frame concatenates the border rows and the border columns, so a corner pixel counts twice.
                frame[best] += (y < border || y >= h - border ? 1 : 0) + (x < border || x >= w - border ? 1 : 0)
            }
        }
        // numpy argmax semantics: the first maximum in palette order.
        guard frame.contains(where: { $0 > 0 }) else { return (nil, nil) }
        let bg = frame.indices.max { frame[$0] < frame[$1] || (frame[$0] == frame[$1] && $0 > $1) }!
        all[bg] = 0
        let k = all.indices.max { all[$0] < all[$1] || (all[$0] == all[$1] && $0 > $1) }!
        let shape = Double(all[k]) >= minFraction * Double(w * h) ? names[k] : nil
        return (names[bg], shape)
    }

    /// Palette order as in shapes_dataset.COLOURS (the JSON object keeps it; Swift dictionaries do not).
    private func order(_ name: String) -> Int {
        ["red", "orange", "yellow", "green", "blue", "purple", "pink", "white", "black", "gray"].firstIndex(of: name) ?? 99
    }
}

final class BuiltinQualityTests: XCTestCase {
    /// The shipped file, or `UNCLIP_BUILTIN_WEIGHTS` (to score a candidate before shipping it).
    static let weightsPath = ProcessInfo.processInfo.environment["UNCLIP_BUILTIN_WEIGHTS"]
        ?? BuiltinEval.root.appendingPathComponent("weights/unclip-builtin.safetensors").path

    func testClassifierAgreesWithTheDatasetColours() throws {
        let eval = try BuiltinEval.load()
        XCTAssertEqual(eval.palette.count, 10)
        for (name, rgb) in eval.palette {
            let img = GeneratedImage(width: 8, height: 8, pixels: (0..<64).flatMap { _ in rgb.map { UInt8($0) } })
            XCTAssertEqual(eval.classify(img).background, name)
            XCTAssertNil(eval.classify(img).shape)
        }
    }

    /// ≥ 90% of the training-combination prompts must show the named background and shape colours; the held-out
    /// accuracy is reported. Then a variation of the first image must keep both colours. Settings: what `unclip-run`
    /// uses without options — the file's `sampling_defaults` (chosen on other prompts: scripts/builtin_eval.py
    /// --validation), 25/25/7 steps. `UNCLIP_QUALITY_SHEET=out.png` also writes a contact sheet.
    func testBuiltinModelDrawsTheNamedColours() throws {
        fp32Images = try checkQuality(precision: .fp32)
    }

    /// The same bar in bf16 (the AVX512-BF16 kernels), and its distance from the fp32 images (PSNR, printed and
    /// bounded) with the same seeds.
    func testBuiltinModelDrawsTheNamedColoursInBF16() throws {
        try XCTSkipUnless(MatmulPrecision.bf16Available, "this CPU has no AVX512-BF16")
        let bf16 = try checkQuality(precision: .bf16)
        let fp32 = try fp32Images ?? checkQuality(precision: .fp32)
        var psnrs: [Double] = []
        for (a, b) in zip(fp32, bf16) {
            let se = zip(a.pixels, b.pixels).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
            let mse = se / Double(a.pixels.count)
            psnrs.append(mse == 0 ? 99 : 10 * log10(255 * 255 / mse))
        }
        let sorted = psnrs.sorted()
        print(String(format: "built-in bf16 vs fp32, %d images: PSNR median %.1f dB, worst %.1f dB, best %.1f dB",
                     sorted.count, sorted[sorted.count / 2], sorted[0], sorted[sorted.count - 1]))
        XCTAssertGreaterThanOrEqual(sorted[sorted.count / 2], 25, "median PSNR of bf16 against fp32")
    }

    /// fp32 images of the prompt set, when the fp32 test has run in this process (XCTest runs tests in name order).
    nonisolated(unsafe) private static var fp32Cache: [GeneratedImage]?
    private var fp32Images: [GeneratedImage]? {
        get { Self.fp32Cache }
        set { Self.fp32Cache = newValue }
    }

    /// Generates the prompt set in `precision`, checks the colour accuracy and a variation, returns the images.
    private func checkQuality(precision: MatmulPrecision) throws -> [GeneratedImage] {
        let env = ProcessInfo.processInfo.environment
        let eval = try BuiltinEval.load()
        XCTAssertGreaterThanOrEqual(eval.prompts.count, 24)
        for (k, p) in eval.prompts.enumerated() { XCTAssertEqual(p.seed, 1000 + UInt64(k), "seeds are consecutive") }
        let weights = try UnCLIPWeights(path: Self.weightsPath, precision: precision)
        let d = weights.samplingDefaults            // the settings `unclip-run` uses without options
        let result = try UnCLIPPipeline(weights: weights).generate(
            TextToImageRequest(prompts: eval.prompts.map(\.prompt), prior: d.prior, decoder: d.decoder, superRes: d.superRes,
                               noise: .perImage(seed: eval.prompts[0].seed)))
        XCTAssertEqual(result.images.count, eval.prompts.count)
        var hits = [false: 0, true: 0], totals = [false: 0, true: 0], lines: [String] = []
        for (p, img) in zip(eval.prompts, result.images) {
            let (bg, shape) = eval.classify(img)
            let ok = bg == p.background && shape == p.colour
            hits[p.heldout, default: 0] += ok ? 1 : 0
            totals[p.heldout, default: 0] += 1
            lines.append("\(ok ? "ok  " : "MISS") \(p.prompt) -> background \(bg ?? "-"), shape \(shape ?? "-")")
        }
        let train = Double(hits[false]!) / Double(totals[false]!), held = Double(hits[true]!) / Double(totals[true]!)
        print(lines.joined(separator: "\n"))
        print(String(format: "built-in quality (%@): training combinations %d/%d (%.0f%%), held-out %d/%d (%.0f%%)",
                     precision.rawValue as NSString, hits[false]!, totals[false]!, train * 100, hits[true]!, totals[true]!, held * 100))
        if let sheet = env["UNCLIP_QUALITY_SHEET"] {
            let cells = stride(from: 0, to: result.images.count, by: 9).map { r in
                (r..<(r + 9)).map { $0 < result.images.count ? Image8(width: result.images[$0].width, height: result.images[$0].height,
                                                                         channels: 3, pixels: result.images[$0].pixels) : nil }
            }
            let img = ContactSheet.make(cells: cells, rowLabels: cells.indices.map { "\($0 * 9)" },
                                        columnLabels: (0..<9).map { "+\($0)" }, cellSize: 128, title: "built-in model, eval prompts")
            try PNG.write(img, to: sheet)
        }
        XCTAssertGreaterThanOrEqual(train, 0.9, "training-combination colour accuracy (\(precision.rawValue))")

        // A variation of a rendered image keeps its colours.
        let first = result.images[0], expected = eval.classify(first)
        XCTAssertEqual(expected.background, eval.prompts[0].background)
        let input = try InputImage(width: first.width, height: first.height, channels: 3, pixels: first.pixels)
        let vars = try UnCLIPImageVariationPipeline(weights: weights).generate(
            VariationRequest(images: [input], imagesPerImage: 2, decoder: d.decoder, superRes: d.superRes, noise: .perImage(seed: 7)))
        for v in vars.images {
            let got = eval.classify(v)
            XCTAssertEqual(got.background, expected.background, "variation keeps the background colour")
            XCTAssertEqual(got.shape, expected.shape, "variation keeps the shape colour")
        }
        return result.images
    }
}
