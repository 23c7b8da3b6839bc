// `unclip-run info`: the machine as the engine sees it — CPU features, OpenBLAS kernels, threads.
import ArgumentParser
import Foundation
import TensorCore

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the CPU features and the kernels unclip runs on this machine (for bug reports and benchmarks).")

    @OptionGroup var threading: ThreadOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws { try threading.run { try runInContext() } }

    private func runInContext() throws {
        let h = Threading.hardware
        if json {
            var obj = h.dictionary
            obj["threads"] = Threading.count
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        print("CPU features:      \(h.features.names.isEmpty ? "none of avx2/avx512/amx" : h.features.names.joined(separator: " "))")
        print("OpenBLAS core:     \(h.blasCore)")
        print("  detected:        \(h.blasDetected) (OpenBLAS's own choice, or OPENBLAS_CORETYPE)")
        print("  for this CPU:    \(h.blasCoreForCPU.map { $0 == "SkylakeX" ? "SkylakeX family (SkylakeX, Cooperlake)" : "Haswell family (Haswell, Zen)" } ?? "no preference (no AVX2)")")
        print("  policy:          UNCLIP_BLAS_CORE=\(h.blasPolicy)")
        print("engine loops:      compiled for \(h.buildTarget)")
        print("AMX:               \(h.features.amxBF16 ? "available, unused (fp32 path)" : "not available")")
        print("threads:           \(Threading.count) (OpenBLAS single-threaded per call)")
    }
}
