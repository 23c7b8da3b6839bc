// `unclip-run bench encoders`: one prompt through the CLIP text tower and one image through the vision tower.
import ArgumentParser
import Foundation
import Models
import TensorCore
import Tokenizer
import WeightIO

struct BenchEncoders: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoders", abstract: "Time the CLIP text encoder (one 77-token prompt) and vision encoder (one 224² image).")

    @Option(name: .long, help: "Weights file (default: the built-in weights).")
    var weights: String?

    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Minimum seconds to time each encoder.")
    var seconds: Double = 3

    func run() throws { try threading.run { try runInContext() } }

    private func runInContext() throws {
        let path = try WeightsLocator.resolve(weights)
        let file: WeightFile
        do { file = try WeightFile(path: path) } catch { throw CLIError("\(error)") }
        let bench = OpsBenchmark(minSeconds: seconds)
        let peak = OpsBenchmark.sgemmPeak(n: 1024, minSeconds: seconds)
        print(String(format: "threads %d, sgemm 1024³ peak this run: %.1f GFLOP/s", Threading.count, peak))
        print(Threading.hardware.summary)

        if file.metadata["text_encoder.config"] != nil {
            let t0 = Date()
            let model: CLIPTextModel
            do { model = try CLIPTextModel(file: file) } catch { throw CLIError("\(error)") }
            let load = Date().timeIntervalSince(t0)
            let tok = try CLIPTokenizer(file: file)
            let ids = tok.tokenize(String(repeating: "a red circle on a blue background, ", count: 12)).ids
            let t = bench.time { _ = model(ids: [ids]) }
            let cfg = model.config, w = Double(cfg.hiddenSize), tl = Double(ids.count)
            let flops = Double(cfg.numHiddenLayers) * (2 * tl * 4 * w * w + 4 * tl * w * Double(cfg.intermediateSize) + 4 * tl * tl * w)
                + 2 * w * Double(cfg.projectionDim)
            report("text encoder (1 prompt, 77 tokens)", load: load, seconds: t, flops: flops, peak: peak)
        }
        if file.metadata["image_encoder.config"] != nil {
            let t0 = Date()
            let model: CLIPVisionModel
            do { model = try CLIPVisionModel(file: file) } catch { throw CLIError("\(error)") }
            let load = Date().timeIntervalSince(t0)
            let cfg = model.config
            let px = OpsBenchmark.random([1, 3, cfg.imageSize, cfg.imageSize], seed: 3)
            let t = bench.time { _ = model(pixelValues: px) }
            let d = Double(cfg.hiddenSize), g = Double(cfg.imageSize / cfg.patchSize), tl = g * g + 1
            let flops = 2 * 3 * Double(cfg.patchSize * cfg.patchSize) * d * g * g
                + Double(cfg.numHiddenLayers) * (2 * tl * 4 * d * d + 4 * tl * d * Double(cfg.intermediateSize) + 4 * tl * tl * d)
                + 2 * d * Double(cfg.projectionDim)
            report("vision encoder (1 image, \(Int(tl)) tokens)", load: load, seconds: t, flops: flops, peak: peak)
        }
        print("peak RSS: \(String(format: "%.0f", Double(peakRSSBytes()) / 1048576)) MiB")
    }

    func report(_ name: String, load: Double, seconds: Double, flops: Double, peak: Double) {
        let rate = flops / seconds / 1e9
        print(String(format: "%-40@ load %6.2f s   forward %8.1f ms   %6.1f GFLOP/s (%4.1f%% of peak, %.1f GFLOP)",
                     name as NSString, load, seconds * 1000, rate, 100 * rate / peak, flops / 1e9))
    }
}

/// The process's peak resident set size (VmHWM), in bytes.
func peakRSSBytes() -> Int { procStatusBytes("VmHWM:") }

/// The process's resident set size now (VmRSS), in bytes.
func residentBytes() -> Int { procStatusBytes("VmRSS:") }

/// A `kB` field of /proc/self/status, in bytes (0 where there is none).
private func procStatusBytes(_ field: String) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix(field) {
        // "VmHWM:\t  123456 kB" — a tab, then spaces only below 10 GB: split on both.
        let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first ?? 0
        return kb * 1024
    }
    return 0
}
