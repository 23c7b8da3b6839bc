// Mirrors scripts/bench_reference.py's `StageClock`, `run_one` row and JSON/CSV output for `bench pipeline`: stage
// boundaries from the pipeline's phase hook, GEMM FLOPs from TensorCore's counter, VmHWM peaks, the same column names.
import Foundation
import ImageIO
import Pipeline
import TensorCore

/// One stage of a run, split as bench_reference.py splits it: from the stage's start to the next stage's (the last
/// one to the end of the run, so it carries the final conversion to pixels).
struct StageMeasure {
    /// `text`, `prior`, `decoder`, `super_res` (bench_reference.py's names).
    let key: String
    /// Wall time without the loading of the stage's weights.
    var seconds = 0.0
    var loadSeconds = 0.0
    /// GEMM floating-point operations (2·m·n·k per OpenBLAS call).
    var flops: Int64 = 0
    /// Denoising steps the progress hook reported (0 for text encoding).
    var steps = 0
    /// VmHWM over the stage (reset at its start), bytes.
    var peakRSS = 0
}

/// The process's peak RSS and, on Linux ≥ 4.0, resetting it (`echo 5 > /proc/self/clear_refs`).
enum PeakRSS {
    /// Sets VmHWM back to the current RSS; false when the kernel does not allow it.
    @discardableResult
    static func reset() -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "5", 1) == 1
    }
}

/// Collects one run's stage boundaries from ``PipelineHooks/phase`` and steps from ``PipelineHooks/progress``.
final class StageClock {
    /// Whether VmHWM can be reset, so that peaks are per run and per stage (else they are the process's, monotonic).
    static let rssResets = PeakRSS.reset()
    static let keys = ["text", "prior", "decoder", "super_res"]

    private var stages: [String: StageMeasure] = [:]
    private var current = "text"
    private var segmentStart: UInt64
    private var segmentFlops: Int64 = 0
    private var loadStart: UInt64?
    private let start: UInt64

    /// Starts the clock (and the text-encoding stage), with the FLOP counter and the RSS peak reset.
    init() {
        ComputeContext.current.counters.reset()
        if Self.rssResets { PeakRSS.reset() }
        start = DispatchTime.now().uptimeNanoseconds
        segmentStart = start
    }

    private static func seconds(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e9 }

    func phase(_ phase: PipelinePhase, started: Bool) {
        let now = DispatchTime.now().uptimeNanoseconds
        switch phase {
        case .stage(let stage) where started:
            close(at: now)
            current = stage.key
        case .loading:
            if started { loadStart = now } else if let s = loadStart {
                stages[current, default: StageMeasure(key: current)].loadSeconds += Self.seconds(s, now)
                loadStart = nil
            }
        default:
            break
        }
    }

    func progress(_ p: StepProgress) {
        let key = p.stage.key
        stages[key, default: StageMeasure(key: key)].steps = max(stages[key]?.steps ?? 0, p.step)
    }

    private func close(at now: UInt64) {
        var m = stages[current, default: StageMeasure(key: current)]
        m.seconds = Self.seconds(segmentStart, now) - m.loadSeconds
        let flops = ComputeContext.current.counters.flops
        m.flops = flops - segmentFlops
        m.peakRSS = peakRSSBytes()
        if Self.rssResets { PeakRSS.reset() }
        stages[current] = m
        segmentStart = now
        segmentFlops = flops
    }

    /// Ends the run: the stages in order (absent ones zero), the total wall time (loading included) and the run's peak RSS.
    func finish() -> (stages: [StageMeasure], totalSeconds: Double, peakRSS: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        close(at: now)
        let all = Self.keys.map { stages[$0] ?? StageMeasure(key: $0) }
        return (all, Self.seconds(start, now), all.map(\.peakRSS).max() ?? 0)
    }
}

/// A value of bench.json and bench.csv, written the same way in both.
enum ReportValue {
    case text(String)
    /// A JSON number literal, already formatted.
    case number(String)

    var csv: String {
        switch self {
        case .number(let n): return n
        case .text(let t): return t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + t.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : t
        }
    }

    var json: String {
        switch self {
        case .number(let n): return n
        case .text(let t):
            var out = "\""
            for u in t.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        }
    }

    /// A value parsed from bench_reference.py's JSON.
    init(_ any: Any) {
        if let s = any as? String { self = .text(s) } else if let n = any as? NSNumber { self = .number(n.stringValue) } else { self = .text("\(any)") }
    }
}

/// One run of `bench pipeline`: a row of bench.json / bench.csv.
struct PipelineRun {
    let scheduler: String
    let seed: UInt64
    /// text, prior, decoder, super_res.
    let stages: [StageMeasure]
    let totalSeconds: Double
    let peakRSS: Int
    let processPeakRSS: Int
    let imageMean: Double
    let image: String
    let threads: Int
    let sgemmPeak: Double

    var loadSeconds: Double { stages.reduce(0) { $0 + $1.loadSeconds } }
    func stage(_ key: String) -> StageMeasure { stages.first { $0.key == key }! }
    func msPerStep(_ s: StageMeasure) -> Double { s.seconds * 1e3 / Double(max(1, s.steps)) }
    func gflops(_ s: StageMeasure) -> Double { s.seconds > 0 ? Double(s.flops) / s.seconds / 1e9 : 0 }

    /// bench_reference.py's columns first (same names, same order, same rounding), then unclip's own.
    var columns: [(String, ReportValue)] {
        func n(_ format: String, _ v: Double) -> ReportValue { .number(String(format: format, v)) }
        let mb = 1048576.0
        var c: [(String, ReportValue)] = [
            ("engine", .text("unclip")), ("scheduler", .text(scheduler)), ("total_s", n("%.3f", totalSeconds)),
            ("peak_rss_mb", n("%.1f", Double(peakRSS) / mb)), ("text_ms", n("%.1f", stage("text").seconds * 1e3))]
        for key in ["prior", "decoder", "super_res"] {
            let s = stage(key)
            c += [("\(key)_steps", .number("\(s.steps)")), ("\(key)_ms_per_step", n("%.1f", msPerStep(s)))]
        }
        c += [("image_mean", imageMean.isFinite ? .number("\(imageMean)") : .text("nan")), ("load_s", n("%.2f", loadSeconds)),
              ("seed", .number("\(seed)")), ("threads", .number("\(threads)")), ("sgemm_gflops", n("%.2f", sgemmPeak)),
              ("compute_s", n("%.3f", totalSeconds - loadSeconds)), ("process_peak_rss_mb", n("%.1f", Double(processPeakRSS) / mb)),
              ("image", .text(image))]
        for s in stages {
            if s.key != "text" { c.append(("\(s.key)_ms", n("%.1f", s.seconds * 1e3))) }
            c += [("\(s.key)_load_ms", n("%.1f", s.loadSeconds * 1e3)), ("\(s.key)_gflop", n("%.6g", Double(s.flops) / 1e9)),
                  ("\(s.key)_gflops", n("%.4g", gflops(s))), ("\(s.key)_pct_sgemm", n("%.2f", 100 * gflops(s) / sgemmPeak)),
                  ("\(s.key)_peak_rss_mb", n("%.1f", Double(s.peakRSS) / mb))]
        }
        return c
    }

    /// The stdout table: one line per stage of each run, then the run's total.
    static func table(_ runs: [PipelineRun], rssIsPerRun: Bool) -> String {
        let names = ["text": "text", "prior": "prior", "decoder": "decoder", "super_res": "super-res"]
        var lines = ["scheduler        stage       steps    ms/step    stage ms    load ms     GFLOP   GFLOP/s  % sgemm  peak RSS MiB"]
        for r in runs {
            for (i, s) in r.stages.enumerated() where s.key == "text" || s.steps > 0 {
                let rate = r.gflops(s)
                let steps = s.key == "text" ? "    -" : String(format: "%5d", s.steps)
                let perStep = s.key == "text" ? "         -" : String(format: "%10.1f", r.msPerStep(s))
                lines.append((i == 0 ? r.scheduler : "").padding(toLength: 16, withPad: " ", startingAt: 0) + " "
                    + names[s.key]!.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + String(format: "%@ %@ %11.1f %10.1f %9.3f %9.2f %7.1f%% %13.0f", steps, perStep, s.seconds * 1e3,
                             s.loadSeconds * 1e3, Double(s.flops) / 1e9, rate, 100 * rate / r.sgemmPeak, Double(s.peakRSS) / 1048576))
            }
            lines.append(String(repeating: " ", count: 17) + String(format: "total %.3f s (loading %.3f s), peak RSS %.0f MiB%@, image mean %.5f → %@",
                r.totalSeconds, r.loadSeconds, Double(r.peakRSS) / 1048576, (rssIsPerRun ? "" : " (process)") as NSString,
                r.imageMean, r.image as NSString))
        }
        return lines.joined(separator: "\n")
    }
}

/// `--out-dir`: checked before any compute, written at the very end, every file whole (temporary name, then rename).
struct BenchOutput {
    let directory: String

    /// Creates the directory when missing and checks it can take files.
    init(directory: String) throws {
        self.directory = directory
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CLIError("--out-dir \(directory) exists and is not a directory") }
        } else {
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw CLIError("cannot create --out-dir \(directory): \(error.localizedDescription)")
            }
        }
        let probe = directory + "/.unclip-bench-probe-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw CLIError("--out-dir \(directory) is not writable")
        }
        unlink(probe)
    }

    /// bench.json (`meta` + rows of both engines), bench.csv (the same rows), each run's PNG and the contact sheet.
    func write(runs: [PipelineRun], reference: [[String: Any]], images: [(name: String, image: Image8, parameters: GenerationParameters)],
               sheet: Image8, meta: [(String, ReportValue)]) throws {
        var rows = runs.map(\.columns)
        var header = rows.first?.map(\.0) ?? []
        for r in reference {
            for key in r.keys.sorted() where !header.contains(key) { header.append(key) }
            rows.append(header.compactMap { k in r[k].map { (k, ReportValue($0)) } })
        }
        let jsonRows = rows.map { row in "  {" + row.map { "\(ReportValue.text($0.0).json): \($0.1.json)" }.joined(separator: ", ") + "}" }
        let json = "{\n \"meta\": {" + meta.map { "\(ReportValue.text($0.0).json): \($0.1.json)" }.joined(separator: ", ")
            + "},\n \"rows\": [\n" + jsonRows.joined(separator: ",\n") + "\n ]\n}\n"
        var csv = header.joined(separator: ",") + "\n"
        for row in rows {
            let values = Dictionary(row.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            csv += header.map { values[$0]?.csv ?? "" }.joined(separator: ",") + "\n"
        }
        do {
            for file in images { try PNG.write(file.image, to: path(file.name), text: [("parameters", file.parameters.text)]) }
            try PNG.write(sheet, to: path("contact-sheet.png"))
            try AtomicFile.write(Data(csv.utf8), to: path("bench.csv"))
            try AtomicFile.write(Data(json.utf8), to: path("bench.json"))
        } catch {
            throw CLIError("cannot write into --out-dir \(directory): \(error)")
        }
    }

    private func path(_ name: String) -> String { directory + "/" + name }
}
