// `unclip-run bench models`: one forward of each heavy network at the pipeline's batch and size.
import ArgumentParser
import Foundation
import Models
import TensorCore
import Tokenizer
import WeightIO

struct BenchModels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Time one forward of the prior (batch 2), decoder (batch 2), super-res (batch 1) and the CLIP towers with random inputs.")

    @Option(name: .long, help: "Weights file (default: the built-in weights).")
    var weights: String?

    @Option(name: .long, help: "Comma-separated: prior, decoder, super_res_first, super_res_last, text_encoder (batch 2 × 77 tokens, as the pipeline encodes [\"\", prompt]), image_encoder (one 224² image).")
    var components = "prior,decoder,super_res_first"

    @Option(name: .long, help: "Timed forwards per component (after one warm-up).")
    var repeats = 2

    @Option(name: .long, help: "Take the inputs from this safetensors file (<component>.sample, .timestep, … as written by scripts/parity_full.py) instead of random ones.")
    var inputs: String?

    @Option(name: .long, help: "Write each component's output as <component>.output to this safetensors file (for scripts/parity_full.py).")
    var outputs: String?

    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Matmul precision: fp32, bf16 (AVX512-BF16 kernels, weights packed at load) or auto.")
    var precision: PrecisionChoice = .fp32

    func validate() throws {
        let known: Set = ["prior", "decoder", "super_res_first", "super_res_last", "text_encoder", "image_encoder"]
        for c in components.split(separator: ",") where !known.contains(String(c)) {
            throw ValidationError("unknown component '\(c)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        if repeats < 1 { throw ValidationError("--repeats must be ≥ 1") }
    }

    func run() throws { try threading.run { try runInContext() } }

    private func runInContext() throws {
        let file: WeightFile, given: WeightFile?
        do { file = try WeightFile(path: try WeightsLocator.resolve(weights)) } catch let e as CLIError { throw e } catch { throw CLIError("\(error)") }
        do { given = try inputs.map { try WeightFile(path: $0) } } catch { throw CLIError("--inputs: \(error)") }
        var written = WeightWriter()
        let precision: MatmulPrecision
        do { precision = try self.precision.resolve() } catch { throw CLIError("\(error)") }
        let peak = OpsBenchmark.sgemmPeak()
        print(String(format: "threads %d, sgemm 2048³ this run: %.1f GFLOP/s", Threading.count, peak))
        print(Threading.hardware.summary)
        print("precision \(precision.rawValue): \(precision.kernelName)")
        print(Ops.convolutionPathDescription(precision: precision))
        for comp in components.split(separator: ",").map(String.init) {
            guard file.metadata[comp + ".config"] != nil else { print("\(comp): not in this file"); continue }
            let rssBefore = peakRSSBytes()
            let t0 = Date()
            let forward: () -> Tensor
            do { forward = try makeForward(comp, file, inputs: given, precision: precision) } catch { throw CLIError("\(comp): \(error)") }
            file.releasePagesIfCopied(component: comp)  // as the pipeline does: widened F16 weights stay resident once
            let load = Date().timeIntervalSince(t0)
            written.add("\(comp).output", forward())
            ComputeContext.current.counters.reset()
            var best = Double.infinity
            for _ in 0..<repeats {
                let s = Date(); _ = forward(); best = min(best, Date().timeIntervalSince(s))
            }
            let flops = Double(ComputeContext.current.counters.flops) / Double(repeats)
            let rate = flops / best / 1e9
            print(String(format: "%-16@ load %5.1f s   forward %8.3f s   %7.1f GFLOP (GEMM)   %6.1f GFLOP/s (%4.1f%% of sgemm)   peak RSS %5.0f MiB (was %5.0f)",
                         comp as NSString, load, best, flops / 1e9, rate, 100 * rate / peak,
                         Double(peakRSSBytes()) / 1048576, Double(rssBefore) / 1048576))
            ComputeContext.current.scratch.release()
        }
        if let outputs {
            do { try written.write(to: outputs) } catch { throw CLIError("--outputs: \(error)") }
        }
    }

    /// The component's forward on the given inputs (`<comp>.<name>` in `inputs`, checked for shape) or random ones.
    func makeForward(_ comp: String, _ file: WeightFile, inputs: WeightFile?, precision: MatmulPrecision) throws -> () -> Tensor {
        func input(_ name: String, _ shape: [Int], seed: UInt64) throws -> Tensor {
            guard let inputs else { return OpsBenchmark.random(shape, seed: seed) }
            guard let info = inputs.tensors["\(comp).\(name)"] else { throw CLIError("--inputs has no \(comp).\(name)") }
            guard info.shape == shape else { throw CLIError("--inputs \(comp).\(name) has shape \(info.shape), expected \(shape)") }
            return try inputs.floatTensor(info)
        }
        func mask(_ rows: [[Int]]) throws -> [[Int]] {
            guard let inputs else { return rows }
            let flat = try inputs.ints("\(comp).attention_mask"), n = rows[0].count
            guard flat.count == rows.count * n else { throw CLIError("--inputs \(comp).attention_mask must hold \(rows.count)×\(n) values") }
            return (0..<rows.count).map { Array(flat[($0 * n)..<(($0 + 1) * n)]) }
        }
        var timestep = 999
        if let inputs, !comp.hasSuffix("_encoder") {  // the CLIP towers take no timestep
            guard inputs.tensors["\(comp).timestep"] != nil, let t = try inputs.ints("\(comp).timestep").first else {
                throw CLIError("--inputs has no \(comp).timestep")
            }
            timestep = t
        }
        switch comp {
        case "text_encoder":
            // Output: last_hidden_state [2, 77, w] then text_embeds [2, p], flattened into one tensor.
            let m = try CLIPTextModel(file: file, precision: precision)
            let n = m.config.maxPositionEmbeddings
            let ids: [[Int]]
            if let inputs {
                guard inputs.tensors["\(comp).input_ids"] != nil else { throw CLIError("--inputs has no \(comp).input_ids") }
                let flat = try inputs.ints("\(comp).input_ids")
                guard flat.count == 2 * n, flat.allSatisfy({ $0 >= 0 && $0 < m.config.vocabSize }) else {
                    throw CLIError("--inputs \(comp).input_ids must hold 2×\(n) token ids below \(m.config.vocabSize)")
                }
                ids = [Array(flat[0..<n]), Array(flat[n...])]
            } else {
                let tok = try CLIPTokenizer(file: file)
                ids = ["", "a red circle on a blue background"].map { tok.tokenize($0).ids }
            }
            return {
                let out = m(ids: ids), a = out.lastHiddenState, b = out.textEmbeds
                let y = Tensor(uninitialized: [a.count + b.count])  // [2·77·w + 2·p]
                y.data.update(from: a.data, count: a.count)
                (y.data + a.count).update(from: b.data, count: b.count)
                return y
            }
        case "image_encoder":
            // Output: image_embeds [1, p].
            let m = try CLIPVisionModel(file: file, precision: precision)
            let s = m.config.imageSize
            let px = try input("pixel_values", [1, m.config.numChannels, s, s], seed: 11)
            return { m(pixelValues: px).imageEmbeds }
        case "prior":
            let m = try PriorTransformer(file: file, precision: precision)
            let d = m.config.embeddingDim, t = m.config.numEmbeddings
            let x = try input("sample", [2, d], seed: 4), e = try input("text_embeds", [2, d], seed: 5)
            let h = try input("text_hidden_states", [2, t, d], seed: 6)
            let mask = try mask([[Int](repeating: 1, count: 9) + [Int](repeating: 0, count: t - 9), [Int](repeating: 1, count: 2) + [Int](repeating: 0, count: t - 2)])
            return { m(sample: x, timestep: timestep, textEmbeds: e, textHiddenStates: h, textMask: mask) }
        case "decoder":
            let m = try UNet(file: file, component: comp, precision: precision)
            let s = m.config.sampleSize ?? 64, cfg = m.config
            let x = try input("sample", [2, cfg.inChannels, s, s], seed: 7)
            let cl = try input("class_labels", [2, 4 * cfg.blockOutChannels[0]], seed: 8)
            let ehs = try input("encoder_hidden_states", [2, 81, cfg.crossAttentionDim ?? 0], seed: 9)
            let mask = try mask([[Int](repeating: 1, count: 13) + [Int](repeating: 0, count: 68), [Int](repeating: 1, count: 6) + [Int](repeating: 0, count: 75)])
            return { m(sample: x, timestep: timestep, classLabels: cl, encoderHiddenStates: ehs, attentionMask: mask) }
        default:
            let m = try UNet(file: file, component: comp, precision: precision)
            // super_res_last's config has no sample_size (Karlo): the pipeline reads it from super_res_first's config.
            let first = try? JSONDecoder().decode(UNetConfiguration.self, from: Data((file.metadata["super_res_first.config"] ?? "{}").utf8))
            let s = first?.sampleSize ?? m.config.sampleSize ?? 256
            let x = try input("sample", [1, m.config.inChannels, s, s], seed: 10)
            return { m(sample: x, timestep: timestep) }
        }
    }
}
