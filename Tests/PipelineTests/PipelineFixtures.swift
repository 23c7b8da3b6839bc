// Fixture access and comparison helpers for the end-to-end pipeline tests (goldens: scripts/make_fixtures.py,
// names in Tests/Fixtures/models/README.md).
import Foundation
import Pipeline
import Schedulers
import TensorCore
import WeightIO
import XCTest

enum PipelineFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    static func modelPath(_ config: String) -> String { root.appendingPathComponent("\(config)/model.safetensors").path }

    static func weights(_ config: String) throws -> UnCLIPWeights { try UnCLIPWeights(path: modelPath(config)) }

    static func golden(_ config: String) throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("\(config)/golden.safetensors").path)
    }

    static func common() throws -> WeightFile {
        try WeightFile(path: root.appendingPathComponent("common.safetensors").path)
    }

    /// One end-to-end case of a golden file's `e2e.cases` metadata.
    struct Case: Decodable {
        var name: String
        var pipeline: String
        var prompt: PromptList?
        var image: String?
        var seed: UInt64
        var priorSteps: Int?
        var decoderSteps: Int
        var srSteps: Int
        var priorGuidanceScale: Float?
        var decoderGuidanceScale: Float
        var numImagesPerPrompt: Int?
        /// `"list"`: diffusers was called with one generator per image (seeds seed, seed+1, …).
        var generators: String?
        /// A registry name used on all three stages (`"ddim"`), configured from each stage's scheduler config.
        var scheduler: String?
        var eta: Double?

        enum CodingKeys: String, CodingKey {
            case name, pipeline, prompt, image, seed, generators, scheduler, eta
            case priorSteps = "prior_steps", decoderSteps = "decoder_steps", srSteps = "sr_steps"
            case priorGuidanceScale = "prior_guidance_scale", decoderGuidanceScale = "decoder_guidance_scale"
            case numImagesPerPrompt = "num_images_per_prompt"
        }

        var noise: NoiseMode { generators == "list" ? .perImage(seed: seed) : .shared(seed: seed) }
    }

    /// A prompt or a list of prompts.
    struct PromptList: Decodable {
        var values: [String]
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
        }
    }

    static func cases(_ golden: WeightFile) throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(try golden.requireMetadata("e2e.cases").utf8))
    }
}

extension WeightFile {
    /// A golden float tensor (copied out of the mapping).
    func golden(_ key: String) throws -> Tensor {
        guard let info = tensors[key] else { throw WeightFileError.missingTensor(key: key) }
        return try floatTensor(info).copy()
    }
}

/// Records the pipeline's named intermediate tensors and stacks repeated names (`<stage>.x` → `[N+1, …]`).
final class TraceRecorder {
    private(set) var values: [String: [Tensor]] = [:]

    var hook: (String, Tensor) -> Void { { [unowned self] name, t in self.values[name, default: []].append(t.copy()) } }

    func stacked(_ name: String) -> Tensor? {
        guard let list = values[name], let first = list.first else { return nil }
        if list.count == 1 && !name.hasSuffix(".x") && !name.hasSuffix(".model_output") { return first }
        let y = Tensor(uninitialized: [list.count] + first.shape)
        for (i, t) in list.enumerated() { (y.data + i * first.count).update(from: t.data, count: first.count) }
        return y
    }
}

/// Max-abs error, that error relative to the reference's largest magnitude, and NMSE.
struct Deviation: CustomStringConvertible {
    var maxAbs: Float = 0, maxRef: Float = 0, nmse: Double = 0
    var relative: Float { maxAbs / max(maxRef, 1e-30) }
    var description: String { String(format: "max|Δ| %.3g (%.3g × max|ref| %.3g), nmse %.3g", maxAbs, relative, maxRef, nmse) }

    init(_ a: Tensor, _ b: Tensor) {
        var num = 0.0, den = 0.0
        for i in 0..<min(a.count, b.count) {
            let d = abs(a.data[i] - b.data[i])
            maxAbs = d.isNaN ? .infinity : max(maxAbs, d)
            maxRef = max(maxRef, abs(b.data[i]))
            num += Double(d * d); den += Double(b.data[i] * b.data[i])
        }
        nmse = den > 0 ? num / den : num
    }
}

/// PSNR (dB) and max absolute difference between 8-bit pictures.
struct PixelDeviation: CustomStringConvertible {
    var psnr: Double, maxDiff: Int
    var description: String { String(format: "PSNR %.2f dB, max pixel diff %d", psnr, maxDiff) }

    init(_ a: [UInt8], _ b: [UInt8]) {
        precondition(a.count == b.count, "pixel counts differ: \(a.count) vs \(b.count)")
        var se = 0.0, m = 0
        for i in 0..<a.count {
            let d = Int(a[i]) - Int(b[i])
            se += Double(d * d); m = max(m, abs(d))
        }
        let mse = se / Double(max(a.count, 1))
        psnr = mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
        maxDiff = m
    }
}
