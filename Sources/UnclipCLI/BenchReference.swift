// `bench pipeline --reference`: runs scripts/bench_reference.py (diffusers' UnCLIPPipeline, PyTorch fp32 CPU) on the same
// configuration and prints the two engines side by side, as scripts/bench-ops.sh does for `bench ops`.
import Foundation

/// The PyTorch side of `bench pipeline`: finds the script and a Python with torch + diffusers, runs it, reads its rows.
struct ReferenceRunner {
    /// The interpreter (`UNCLIP_PYTHON`, else `.venv-ref/bin/python` of the checkout).
    let python: String
    /// `scripts/bench_reference.py`.
    let script: String
    /// The diffusers (Karlo-layout) folder.
    let folder: String

    /// Checks, before any compute, that the folder, the script, the interpreter and its torch/diffusers are all there.
    init(folder: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError("--reference-folder \(folder) is not a directory")
        }
        for sub in ["prior", "decoder", "text_proj", "super_res_first", "prior_scheduler/scheduler_config.json"]
        where !FileManager.default.fileExists(atPath: folder + "/" + sub) {
            throw CLIError("--reference-folder \(folder) is not a Karlo-layout diffusers folder (no \(sub))")
        }
        self.folder = folder
        let roots = WeightsLocator.checkoutDirectories()
        guard let root = roots.first(where: { FileManager.default.fileExists(atPath: $0 + "/scripts/bench_reference.py") }) else {
            throw CLIError("--reference: scripts/bench_reference.py not found (run from the unclip checkout)")
        }
        script = root + "/scripts/bench_reference.py"
        if let env = ProcessInfo.processInfo.environment["UNCLIP_PYTHON"], !env.isEmpty {
            python = env
        } else {
            python = root + "/.venv-ref/bin/python"
        }
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw CLIError("--reference needs Python with torch and diffusers: \(python) not found; run scripts/setup-reference.sh "
                + "(creates .venv-ref) or set UNCLIP_PYTHON")
        }
        let check = try Self.capture(python, ["-c", "import torch, diffusers, transformers"])
        guard check.status == 0 else {
            let last = check.err.split(separator: "\n").last.map(String.init) ?? "exit status \(check.status)"
            throw CLIError("--reference: \(python) cannot import torch/diffusers/transformers (\(last)); run scripts/setup-reference.sh")
        }
    }

    private static func capture(_ exe: String, _ args: [String]) throws -> (status: Int32, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        do { try p.run() } catch { throw CLIError("--reference: cannot run \(exe): \(error.localizedDescription)") }
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    /// Runs the script with `arguments` (its output goes to stderr) and returns its JSON rows.
    func run(arguments: [String]) throws -> [[String: Any]] {
        let json = NSTemporaryDirectory() + "unclip-bench-reference-\(getpid()).json"
        defer { unlink(json) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, folder] + arguments + ["--json", json]
        p.standardOutput = FileHandle.standardError
        p.standardError = FileHandle.standardError
        FileHandle.standardError.write(Data("running the PyTorch reference: \(python) \(script) \(folder) …\n".utf8))
        do { try p.run() } catch { throw CLIError("--reference: cannot run \(python): \(error.localizedDescription)") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CLIError("the PyTorch reference failed (exit status \(p.terminationStatus); its messages are above); nothing was written")
        }
        guard let data = FileManager.default.contents(atPath: json),
              let rows = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
            throw CLIError("the PyTorch reference wrote no readable JSON to \(json)")
        }
        return rows
    }

    /// The two engines' runs matched by scheduler and step counts: text ms, ms/step of each denoising stage and the
    /// total without loading, each with the ratio unclip / pytorch (< 1: unclip is faster), and |Δ image mean|.
    static func sideBySide(_ runs: [PipelineRun], _ reference: [[String: Any]]) -> String {
        func number(_ row: [String: Any]?, _ key: String) -> Double? { (row?[key] as? NSNumber)?.doubleValue }
        func group(_ a: Double, _ b: Double?, _ format: String = "%8.1f") -> String {
            let ours = String(format: format, a)
            guard let b else { return ours + "        -      -" }
            return ours + String(format: " \(format) %6.2f", b, b > 0 ? a / b : .nan)
        }
        let groups = ["text ms", "prior ms/step", "decoder ms/step", "super-res ms/step", "total s (no loading)"]
        var lines = ["unclip vs pytorch, same weights, prompt, seed and steps; ratio = unclip / pytorch (< 1: unclip is faster)",
                     String(repeating: " ", count: 27) + groups.map { $0.padding(toLength: 27, withPad: " ", startingAt: 0) }.joined(),
                     "scheduler        p/d/sr    " + String(repeating: "  unclip  pytorch  ratio   ", count: groups.count) + "|Δ mean|"]
        var errors: [String] = []
        for r in runs {
            let p = r.stage("prior"), d = r.stage("decoder"), s = r.stage("super_res")
            let ref = reference.first {
                ($0["scheduler"] as? String) == r.scheduler && number($0, "prior_steps") == Double(p.steps)
                    && number($0, "decoder_steps") == Double(d.steps) && number($0, "super_res_steps") == Double(s.steps)
            }
            if let error = ref?["error"] as? String { errors.append("\(r.scheduler) \(p.steps)/\(d.steps)/\(s.steps): pytorch failed: \(error)") }
            let mean = number(ref, "image_mean").map { String(format: "%.2e", abs($0 - r.imageMean)) } ?? "-"
            let cells = [group(r.stage("text").seconds * 1e3, number(ref, "text_ms")),
                         group(r.msPerStep(p), number(ref, "prior_ms_per_step")),
                         group(r.msPerStep(d), number(ref, "decoder_ms_per_step")),
                         group(r.msPerStep(s), number(ref, "super_res_ms_per_step")),
                         group(r.totalSeconds - r.loadSeconds, number(ref, "total_s"), "%8.3f")]
            lines.append(r.scheduler.padding(toLength: 16, withPad: " ", startingAt: 0) + " "
                + "\(p.steps)/\(d.steps)/\(s.steps)".padding(toLength: 10, withPad: " ", startingAt: 0)
                + cells.map { $0 + "   " }.joined() + mean)
        }
        lines += errors
        if let load = reference.lazy.compactMap({ number($0, "load_s") }).first {
            lines.append(String(format: "pytorch loaded every component once before its runs (%.2f s); unclip loads each stage's weights "
                + "when the stage starts (load_s in bench.csv). Neither is in the times above.", load))
        }
        return lines.joined(separator: "\n")
    }
}
