// `unclip-run bench`: kernel and model benchmarks. Speed is measured here, never in unit tests.
import ArgumentParser
import Foundation
import TensorCore
import WeightIO

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks.", subcommands: [BenchOps.self, BenchEncoders.self, BenchModels.self, BenchPipeline.self, BenchEngine.self])
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "GFLOP/s of the core kernels beside the machine's sgemm peak measured in the same run.")

    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Minimum seconds to time each kernel.")
    var seconds: Double = 1.5

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        if !(seconds > 0 && seconds <= 60) { throw ValidationError("--seconds must be in (0, 60], got \(seconds)") }
    }

    @Option(name: .long, help: ArgumentHelp("im2col chunk size in floats per thread (tuning).", visibility: .hidden))
    var convChunk: Int?

    func run() throws { try threading.run(convChunkFloats: convChunk) { try runInContext() } }

    private func runInContext() throws {
        let rows = OpsBenchmark(minSeconds: seconds).run { if !json { FileHandle.standardError.write(Data("  timing \($0)…\n".utf8)) } }
        if json {
            let obj: [String: Any] = ["threads": Threading.count, "hardware": Threading.hardware.dictionary, "rows": rows.map(\.dictionary)]
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        let peak = rows.first { $0.name.hasPrefix("sgemm") && $0.isPeak }?.rate ?? 1
        print("threads: \(Threading.count), OpenBLAS single-threaded per call (GEMMs split across engine threads)")
        print(Threading.hardware.summary)
        print("kernel".padding(toLength: 58, withPad: " ", startingAt: 0) + "   ms/call       rate     % sgemm")
        for r in rows {
            let pct = r.unit == "GFLOP/s" ? String(format: "%6.1f%%", 100 * r.rate / peak) : "      -"
            print(r.name.padding(toLength: 58, withPad: " ", startingAt: 0)
                  + String(format: "%10.2f %8.1f %@ %@", r.seconds * 1000, r.rate, r.unit as NSString, pct as NSString))
        }
    }
}

/// One benchmark row.
struct BenchRow {
    var name: String
    var seconds: Double   // best time per call
    var rate: Double
    var unit: String
    var isPeak = false
    var dictionary: [String: Any] {
        ["name": name, "ms": seconds * 1000, "rate": rate, "unit": unit, "peak": isPeak]
    }
}

/// The kernel suite of `bench ops`.
struct OpsBenchmark {
    var minSeconds: Double

    /// Best wall time of `body` over repeated calls (≥ 3 calls and ≥ `minSeconds`).
    func time(_ body: () -> Void) -> Double {
        body()  // warm-up: page in weights, size scratch buffers
        var best = Double.infinity, total = 0.0, calls = 0
        while calls < 3 || total < minSeconds {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, dt); total += dt; calls += 1
        }
        return best
    }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = Tensor(uninitialized: shape)
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        for i in 0..<t.count {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            t.data[i] = Float(Int64(bitPattern: s) >> 40) / Float(1 << 23) * 0.5
        }
        return t
    }

    /// The sgemm peak of this run in GFLOP/s: the best time of an `n`³ product split across the engine threads,
    /// the first row of ``run(progress:)`` and the peak that `bench models`, `bench encoders` and `bench pipeline` report.
    static func sgemmPeak(n: Int = 2048, minSeconds: Double = 1) -> Double {
        let a = random([n, n], seed: 1), b = random([n, n], seed: 2), c = Tensor(uninitialized: [n, n])
        let t = OpsBenchmark(minSeconds: minSeconds).time {
            GEMM.parallel(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
        }
        return 2 * pow(Double(n), 3) / t / 1e9
    }

    func run(progress: (String) -> Void) -> [BenchRow] {
        var rows: [BenchRow] = []
        // sgemm peak: a large square product, split across engine threads as every engine GEMM is.
        let n = 2048
        progress("sgemm")
        let peak = Self.sgemmPeak(n: n, minSeconds: minSeconds)
        rows.append(BenchRow(name: "sgemm \(n)³ (engine split)", seconds: 2 * pow(Double(n), 3) / (peak * 1e9), rate: peak, unit: "GFLOP/s", isPeak: true))

        // Karlo's super-res levels (320 @256², 640 @128²), its decoder's top levels at batch 2 (192 @64², 384 @32²),
        // and the built-in model's widths.
        for (cin, cout, hw, batch) in [(320, 320, 256, 1), (640, 640, 128, 1), (192, 192, 64, 2), (384, 384, 32, 2),
                                       (128, 128, 64, 2), (96, 96, 32, 2), (64, 64, 256, 1)] {
            let x = Self.random([batch, cin, hw, hw], seed: 3), w = Self.random([cout, cin, 3, 3], seed: 4)
            let bias = Self.random([cout], seed: 5), y = Tensor(uninitialized: [batch, cout, hw, hw])
            let name = "conv2d 3×3 \(cin)→\(cout) @\(hw)×\(hw) batch \(batch)"
            let flops = 2.0 * Double(cin * cout * 9 * hw * hw * batch)
            // Per precision: im2col + GEMM, Winograd F(2×2) and F(4×4) forced, and the engine's own choice
            // (Ops.winogradTile); Winograd rates count the direct convolution's FLOPs.
            let geometry = ConvGeometry(kernel: 3, padding: 1)
            let im2col = ComputeContext(threads: Threading.count, winograd: 0), auto = ComputeContext(threads: Threading.count)
            var weights: [(String, Ops.ConvWeights)] = [("", .fp32(w))]
            if MatmulPrecision.bf16Available {
                weights.append((" bf16", .bf16(PackedBF16(rows: cout, k: cin * 9, width: PackedBF16.aWidth, from: w.data, ld: cin * 9))))
            }
            for (prefix, weight) in weights {
                let chosen = Ops.winogradTile(cin: cin, cout: cout, h: hw, w: hw, geometry: geometry, context: auto,
                                              bf16: weight.isBF16)
                let conv = { Ops.conv2d(x, weights: weight, bias: bias, geometry: geometry, into: y) }
                let variants: [(String, () -> Void)] = [
                    (" im2col", { im2col.run(conv) }),
                    (" winograd F(2)", { Ops.conv2dWinograd(x, weights: weight, bias: bias, tile: 2, into: y) }),
                    (" winograd F(4)", { Ops.conv2dWinograd(x, weights: weight, bias: bias, tile: 4, into: y) }),
                    (" default (\(chosen == 0 ? "im2col" : "F(\(chosen))"))", { auto.run(conv) }),
                ]
                for (label, body) in variants {
                    progress(name + prefix + label)
                    let t = time(body)
                    rows.append(BenchRow(name: name + prefix + label, seconds: t, rate: flops / t / 1e9, unit: "GFLOP/s"))
                }
            }
        }
        if MatmulPrecision.bf16Available {
            progress("bf16 peak")
            var best = 0.0
            for _ in 0..<3 { best = max(best, MatmulPrecision.bf16PeakGFLOPs()) }
            rows.append(BenchRow(name: "vdpbf16ps peak (registers, all threads)", seconds: 0, rate: best, unit: "GFLOP/s"))
            let a = Self.random([n, n], seed: 1), b = Self.random([n, n], seed: 2), c = Tensor(uninitialized: [n, n])
            let pa = PackedBF16(rows: n, k: n, width: PackedBF16.aWidth, from: a.data, ld: n)
            let pb = PackedBF16(rows: n, k: n, width: PackedBF16.bWidth, from: b.data, ld: n)
            progress("bf16 gemm")
            let t = time { GEMM.bf16(m: n, n: n, k: n, a: pa.data, b: pb.data, c: c.data, ldc: n, accumulate: false) }
            rows.append(BenchRow(name: "bf16 gemm \(n)³ (packed operands, engine split)", seconds: t,
                                 rate: 2 * pow(Double(n), 3) / t / 1e9, unit: "GFLOP/s"))
        }

        do {
            let x = Self.random([2, 320, 64, 64], seed: 6), y = Tensor(uninitialized: x.shape)
            let g = Self.random([320], seed: 7), bb = Self.random([320], seed: 8)
            progress("groupnorm")
            let t = time { Ops.groupNorm(x, groups: 32, eps: 1e-5, weight: g, bias: bb, activation: .silu, into: y) }
            rows.append(BenchRow(name: "groupnorm(32)+silu 2×320×64×64 (read+write)", seconds: t,
                                 rate: Double(2 * x.count * 4) / t / 1e9, unit: "GB/s   "))
        }

        do {
            let heads = 10, d = 64, tq = 1024, tk = 1105
            let q = Self.random([1, tq, heads * d], seed: 9), k = Self.random([1, tk, heads * d], seed: 10)
            let v = Self.random([1, tk, heads * d], seed: 11), o = Tensor(uninitialized: [1, tq, heads * d])
            let mask = Tensor(zeros: [1, tk])
            progress("attention")
            let t = time {
                Ops.attention(q: AttentionOperand(q), k: AttentionOperand(k), v: AttentionOperand(v), batch: 1,
                              heads: heads, headDim: d, mask: .perKey(mask), into: o)
            }
            rows.append(BenchRow(name: "attention \(tq)q × \(tk)k × \(heads) heads × \(d)", seconds: t,
                                 rate: 4.0 * Double(tq * tk * heads * d) / t / 1e9, unit: "GFLOP/s"))
        }

        do {
            // Widening F16/BF16 storage once at load: its throughput decides load time vs on-the-fly widening.
            let n = 1 << 26
            let halfs = UnsafeMutableRawPointer.allocate(byteCount: 2 * n, alignment: 64)
            defer { halfs.deallocate() }
            for i in 0..<n { halfs.storeBytes(of: Float16(Float(i % 1000) * 0.001).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
            let out = Tensor(uninitialized: [n])
            progress("widen")
            let t = time { HalfConversion.widen(UnsafeRawPointer(halfs), dtype: .f16, count: n, into: out.data) }
            rows.append(BenchRow(name: "f16→f32 widening, 64M values (bytes written)", seconds: t,
                                 rate: Double(4 * n) / t / 1e9, unit: "GB/s   "))
        }
        return rows
    }
}
