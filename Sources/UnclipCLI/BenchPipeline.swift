// `unclip-run bench pipeline`: the Swift side of scripts/bench_reference.py — the same runs (one at diffusers' defaults,
// or schedulers × step counts at a fixed seed), timed per stage, written as a table, bench.json/.csv and a contact sheet.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline
import Schedulers
import TensorCore

struct BenchPipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Time whole text-to-image runs per stage: ms/step, GEMM GFLOP/s against this run's sgemm peak, peak RSS.",
        discussion: """
            Without --steps/--schedulers: one run at the weights file's recommended settings (its sampling_defaults, else \
            diffusers' defaults: 25/25/7 steps, guidance 4/8) with the weights' own schedulers. \
            With them: every scheduler × step count, the prior and decoder at that count, super-res at --super-res-steps, \
            every stage with that scheduler, all at the same seed (as scripts/bench_reference.py sweeps). Stage times \
            exclude the loading of the stage's weights (reported apart); the total includes it. Peak RSS is VmHWM, \
            reset before each run and each stage. Writes bench.json, bench.csv, contact-sheet.png and each run's \
            image into --out-dir. --reference also runs scripts/bench_reference.py (PyTorch) on the same configuration.
            """)

    @Option(name: .long, help: "Weights file (default: UNCLIP_WEIGHTS, else the built-in weights in weights/).")
    var weights: String?

    @Option(name: .long, help: "The prompt.")
    var prompt = "a red circle on a blue background"

    @Option(name: .long, help: "Random seed of every run.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Sweep: comma-separated step counts for the prior and decoder (e.g. 5,10,25,50).")
    var steps: String?

    @Option(name: .long, help: "Sweep: comma-separated scheduler names (\(SchedulerRegistry.standard.names.joined(separator: ", "))).")
    var schedulers: String?

    @Option(name: .long, help: "Prior steps when --steps is not given (default: the weights file's recommendation, else 25).")
    var priorSteps: Int?

    @Option(name: .long, help: "Decoder steps when --steps is not given (default: the weights file's recommendation, else 25).")
    var decoderSteps: Int?

    @Option(name: .long, help: "Super-resolution steps, every run (default: the weights file's recommendation, else 7).")
    var superResSteps: Int?

    @Option(name: .long, help: "Prior classifier-free guidance scale (default: the weights file's recommendation, else 4).")
    var priorGuidance: Double?

    @Option(name: .long, help: "Decoder classifier-free guidance scale (default: the weights file's recommendation, else 8).")
    var decoderGuidance: Double?

    @Option(name: .long, help: "Output size: the decoder's (no super-resolution) or the super-resolution size (default).")
    var size: String?

    @Option(name: .long, help: "Directory for bench.json, bench.csv, contact-sheet.png and the images (created if missing).")
    var outDir = "bench-out"

    @Flag(name: .long, help: "Also run scripts/bench_reference.py (PyTorch; UNCLIP_PYTHON or .venv-ref/bin/python) and compare.")
    var reference = false

    @Option(name: .long, help: "The diffusers folder of the same weights, for --reference.")
    var referenceFolder: String?

    @OptionGroup var threading: ThreadOptions

    @Option(name: .long, help: "Matmul precision: fp32, bf16 or auto (fp32).")
    var precision: PrecisionChoice = .auto

    func validate() throws {
        if let steps { _ = try Self.stepList(steps) }
        if let schedulers { _ = try Self.schedulerList(schedulers) }
        if steps != nil && (priorSteps != nil || decoderSteps != nil) {
            throw ValidationError("--steps sets the prior and decoder steps of every run; drop --prior-steps/--decoder-steps")
        }
        var o = GenerationOptions()
        o.prior = StageChoice(steps: priorSteps, guidanceScale: priorGuidance)
        o.decoder = StageChoice(steps: decoderSteps, guidanceScale: decoderGuidance)
        o.superRes = StageChoice(steps: superResSteps)
        try SamplingOptions.validating { try o.validate() }
        if let size, SamplingOptions.parseSize(size) == nil { throw ValidationError("--size must be N or NxN (e.g. 256), got '\(size)'") }
        if outDir.isEmpty { throw ValidationError("--out-dir must not be empty") }
        if reference && referenceFolder == nil {
            throw ValidationError("--reference needs --reference-folder DIR: the diffusers folder the weights file was converted from")
        }
        if referenceFolder != nil && !reference { throw ValidationError("--reference-folder is only used with --reference") }
        if reference, let schedulers, try Self.schedulerList(schedulers).contains("euler-a") {
            throw ValidationError("--reference cannot compare euler-a: diffusers' UnCLIPPipeline never calls scale_model_input, "
                + "so scripts/bench_reference.py refuses it")
        }
    }

    /// `"5,10,25"` → `[5, 10, 25]`: whole numbers in 1…1000, none twice.
    static func stepList(_ text: String) throws -> [Int] {
        let parts = try items(text, option: "--steps", example: "5,10,25,50")
        let counts = try parts.map { part -> Int in
            guard let n = Int(part) else { throw ValidationError("--steps: '\(part)' is not a whole number") }
            var o = GenerationOptions()
            o.decoder.steps = n
            do { try o.validate() } catch let e as RequestError { throw ValidationError(e.described(as: "--steps")) }
            return n
        }
        return counts
    }

    /// `"unclip,ddim"` → registry names (lowercased), none twice.
    static func schedulerList(_ text: String) throws -> [String] {
        let names = try items(text, option: "--schedulers", example: "unclip,ddim").map { $0.lowercased() }
        for name in names where !SchedulerRegistry.standard.names.contains(name) {
            throw ValidationError("--schedulers: unknown scheduler '\(name)' (known: \(SchedulerRegistry.standard.names.joined(separator: ", ")))")
        }
        return names
    }

    private static func items(_ text: String, option: String, example: String) throws -> [String] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.allSatisfy(\.isEmpty) { throw ValidationError("\(option) is empty: give a comma-separated list such as \(example)") }
        if parts.contains(where: \.isEmpty) { throw ValidationError("\(option) '\(text)' has an empty item") }
        if let twice = parts.first(where: { p in parts.filter { $0.lowercased() == p.lowercased() }.count > 1 }) {
            throw ValidationError("\(option) lists '\(twice)' twice")
        }
        return parts
    }

    func run() throws { try threading.run { try runInContext() } }

    private func runInContext() throws {
        let weights: UnCLIPWeights
        do { weights = try UnCLIPWeights(path: try WeightsLocator.resolve(self.weights), precision: try precision.resolve()) } catch let e as CLIError { throw e } catch {
            throw CLIError("\(error)")
        }
        // The options given, else the weights file's recommendation (sampling_defaults), else diffusers' defaults.
        let s = weights.samplingDefaults.overridden(priorSteps: priorSteps, decoderSteps: decoderSteps, superResSteps: superResSteps,
                                                    priorGuidance: priorGuidance, decoderGuidance: decoderGuidance)
        guard weights.supportsTextToImage else { throw CLIError("weights file \(weights.file.path) has no prior, which text-to-image needs") }
        let outputSize = try SamplingOptions.resolving { try weights.outputSize(size.flatMap(SamplingOptions.parseSize)) }
        if reference && outputSize == .decoder {
            throw CLIError("--reference runs the whole cascade (diffusers has no decoder-only size): drop --size")
        }
        let cells = try plannedCells(weights, outputSize, s)        // every scheduler built and set up before any compute
        let runner = reference ? try ReferenceRunner(folder: referenceFolder ?? "") : nil
        let output = try BenchOutput(directory: outDir)
        let pipeline: UnCLIPPipeline
        do { pipeline = try UnCLIPPipeline(weights: weights) } catch { throw CLIError("\(error)") }

        let log = ProgressReporter(quiet: false)
        InterruptFlag.shared.install()
        log.note("measuring the sgemm peak (2048³, \(Threading.count) threads)…")
        let peak = OpsBenchmark.sgemmPeak()
        var runs: [PipelineRun] = [], images: [Image8] = [], processPeak = peakRSSBytes()
        for (k, cell) in cells.enumerated() {
            log.note("[\(k + 1)/\(cells.count)] \(cell.label): prior \(cell.priorSteps), decoder \(cell.decoderSteps)"
                     + (cell.superResSteps.map { ", super-res \($0)" } ?? "") + " steps")
            let clock = StageClock()
            let hooks = PipelineHooks(progress: { clock.progress($0) }, isCancelled: { InterruptFlag.shared.isSet },
                                      warning: { log.warn("warning: \($0)") }, phase: { clock.phase($0, started: $1) })
            let result: GenerationResult
            do {
                result = try pipeline.generate(cell.request(prompt: prompt, seed: seed, priorGuidance: s.priorGuidance,
                                                            decoderGuidance: s.decoderGuidance, size: outputSize), hooks: hooks)
                if InterruptFlag.shared.isSet { throw PipelineError.cancelled }
            } catch PipelineError.cancelled {
                log.warn("cancelled: nothing was written")
                throw ExitCode(130)
            } catch {
                throw CLIError("\(cell.label): \(error)")
            }
            let measured = clock.finish()
            processPeak = max(processPeak, measured.peakRSS)
            let image = result.images[0]
            images.append(Image8(width: image.width, height: image.height, channels: 3, pixels: image.pixels))
            runs.append(PipelineRun(scheduler: cell.label, seed: seed, stages: measured.stages, totalSeconds: measured.totalSeconds,
                                    peakRSS: measured.peakRSS, processPeakRSS: processPeak, imageMean: result.pixelMean,
                                    image: cell.fileName, threads: Threading.count, sgemmPeak: peak))
        }
        let header = String(format: "\"%@\" seed %llu, threads %d, sgemm 2048³ this run: %.1f GFLOP/s",
                            prompt as NSString, seed, Threading.count, peak)
        print(header)
        print(Threading.hardware.summary)
        print("precision \(weights.precision.rawValue): \(weights.precision.kernelName)")
        print(Ops.convolutionPathDescription(precision: weights.precision))
        print(PipelineRun.table(runs, rssIsPerRun: StageClock.rssResets))

        var referenceRows: [[String: Any]] = []
        if let runner {
            referenceRows = try runner.run(arguments: referenceArguments(cells, s))
            print("")
            print(ReferenceRunner.sideBySide(runs, referenceRows))
        }
        let files = zip(cells, images).map { (name: $0.fileName, image: $1, parameters: parameters($0, $1, weights, s)) }
        try output.write(runs: runs, reference: referenceRows, images: files, sheet: contactSheet(cells, images),
                         meta: meta(weights: weights, peak: peak, settings: s))
        log.note("wrote \(output.directory)/bench.json, bench.csv, contact-sheet.png and \(cells.count) image(s)")
    }

    /// One run of the sweep: a scheduler (nil = the weights' own) and its step counts.
    struct Cell {
        var scheduler: String?
        var label: String
        var priorSteps: Int, decoderSteps: Int
        var superResSteps: Int?
        var schedulers: [Stage: any Scheduler]
        /// The column of the contact sheet this run belongs to.
        var column: String

        var fileName: String {
            "\(label)-p\(priorSteps)-d\(decoderSteps)" + (superResSteps.map { "-sr\($0)" } ?? "") + ".png"
        }

        func request(prompt: String, seed: UInt64, priorGuidance: Double, decoderGuidance: Double,
                     size: OutputSize) -> TextToImageRequest {
            TextToImageRequest(prompt: prompt,
                               prior: StageOptions(steps: priorSteps, guidanceScale: Float(priorGuidance), scheduler: schedulers[.prior]),
                               decoder: StageOptions(steps: decoderSteps, guidanceScale: Float(decoderGuidance), scheduler: schedulers[.decoder]),
                               superRes: StageOptions(steps: superResSteps ?? 1, scheduler: schedulers[.superRes]),
                               noise: .perImage(seed: seed), size: size)
        }
    }

    /// Rows = schedulers, columns = step counts; each stage's scheduler is built and given its step count here, so
    /// an unusable combination fails before anything runs.
    func plannedCells(_ weights: UnCLIPWeights, _ size: OutputSize, _ s: SamplingDefaults) throws -> [Cell] {
        let names: [String?] = try schedulers.map { try Self.schedulerList($0) } ?? [nil]
        let counts: [Int?] = try steps.map { try Self.stepList($0) } ?? [nil]
        let stages: [Stage] = size == .superRes ? [.prior, .decoder, .superRes] : [.prior, .decoder]
        var cells: [Cell] = []
        for name in names {
            for count in counts {
                let p = count ?? s.priorSteps, d = count ?? s.decoderSteps
                let sr = size == .superRes ? s.superResSteps : nil
                var built: [Stage: any Scheduler] = [:]
                for stage in stages {
                    let n = stage == .prior ? p : stage == .decoder ? d : s.superResSteps
                    do {
                        let scheduler = try weights.makeScheduler(for: stage, name: name)
                        var probe = scheduler                           // the pipeline sets the steps on its own copy
                        try probe.setTimesteps(n)
                        built[stage] = scheduler
                    } catch {
                        throw CLIError("\(name ?? "the weights' scheduler"), \(stage.rawValue) stage at \(n) steps: \(error)")
                    }
                }
                let label = name ?? UnCLIPWeights.registryLabel(built[.decoder]!)
                let column = count.map { "\($0) steps" } ?? "p\(p) d\(d)" + (sr.map { " sr\($0)" } ?? "")
                cells.append(Cell(scheduler: name, label: label, priorSteps: p, decoderSteps: d, superResSteps: sr,
                                  schedulers: name == nil ? [:] : built, column: column))
            }
        }
        return cells
    }

    /// scripts/bench_reference.py's options for the same runs.
    func referenceArguments(_ cells: [Cell], _ s: SamplingDefaults) -> [String] {
        var args = ["--prompt", prompt, "--seed", "\(seed)", "--threads", "\(Threading.count)",
                    "--prior-steps", "\(s.priorSteps)", "--decoder-steps", "\(s.decoderSteps)",
                    "--super-res-steps", "\(s.superResSteps)", "--prior-guidance", "\(s.priorGuidance)",
                    "--decoder-guidance", "\(s.decoderGuidance)"]
        var labels: [String] = []
        for c in cells where !labels.contains(c.label) { labels.append(c.label) }
        args += ["--schedulers", labels.joined(separator: ",")]
        if let steps { args += ["--steps", (try? Self.stepList(steps))?.map(String.init).joined(separator: ",") ?? steps] }
        return args
    }

    func contactSheet(_ cells: [Cell], _ images: [Image8]) -> Image8 {
        var rows: [String] = [], columns: [String] = []
        for c in cells {
            if !rows.contains(c.label) { rows.append(c.label) }
            if !columns.contains(c.column) { columns.append(c.column) }
        }
        var grid = [[Image8?]](repeating: [Image8?](repeating: nil, count: columns.count), count: rows.count)
        for (c, image) in zip(cells, images) { grid[rows.firstIndex(of: c.label)!][columns.firstIndex(of: c.column)!] = image }
        return ContactSheet.make(cells: grid, rowLabels: rows, columnLabels: columns, cellSize: images[0].width,
                                 title: "\(prompt)  (seed \(seed))")
    }

    func parameters(_ cell: Cell, _ image: Image8, _ weights: UnCLIPWeights, _ s: SamplingDefaults) -> GenerationParameters {
        var extra: [(String, String)] = [("Prior steps", "\(cell.priorSteps)"), ("Prior CFG scale", "\(s.priorGuidance)"),
                                         ("Prior sampler", cell.label)]
        extra += cell.superResSteps.map { [("SR steps", "\($0)"), ("SR sampler", cell.label)] } ?? [("SR", "off")]
        extra += [("RNG", "torch"), ("Benchmark", "unclip-run bench pipeline")]
        let model = weights.modelName
        return GenerationParameters(prompt: prompt, steps: cell.decoderSteps, sampler: cell.label, cfgScale: s.decoderGuidance,
                                    seed: seed, width: image.width, height: image.height, model: model, extra: extra)
    }

    func meta(weights: UnCLIPWeights, peak: Double, settings s: SamplingDefaults) -> [(String, ReportValue)] {
        [("engine", .text("unclip")), ("weights", .text(weights.file.path)), ("prompt", .text(prompt)), ("seed", .number("\(seed)")),
         ("prior_guidance", .number("\(s.priorGuidance)")), ("decoder_guidance", .number("\(s.decoderGuidance)")),
         ("threads", .number("\(Threading.count)")), ("blas_core", .text(Threading.blasCore)),
         ("blas_detected", .text(Threading.hardware.blasDetected)), ("build_target", .text(Threading.hardware.buildTarget)),
         ("cpu_features", .text(Threading.hardware.features.names.joined(separator: " "))), ("sgemm_size", .number("2048")), ("precision", .text(weights.precision.rawValue)),
         ("sgemm_gflops", .number(String(format: "%.2f", peak))),
         ("peak_rss", .text(StageClock.rssResets ? "VmHWM reset before each run and each stage" : "VmHWM of the process (could not be reset)")),
         ("times", .text("<stage>_ms and ms/step exclude loading the stage's weights (<stage>_load_ms, load_s); total_s includes it"))]
    }
}
