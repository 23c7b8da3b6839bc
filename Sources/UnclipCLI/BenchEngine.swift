// `unclip-run bench engine`: what residency buys a server — the same request several times through one UnCLIPEngine,
// each timed with its loading apart, and the memory it leaves behind.
import ArgumentParser
import Foundation
import Pipeline
import TensorCore

struct BenchEngine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Requests in a row through one long-lived engine: latency, loading time and RSS per request.",
        discussion: """
            Each request is a text-to-image run at the weights file's settings (or the options below) with seed+k. With \
            --residency resident (the default, what a server uses) the first request builds the networks and the later \
            ones reuse them; with staged each request loads and releases every stage as a one-shot command does. \
            Peak RSS is VmHWM reset before each request; RSS after is VmRSS once the engine is idle.
            """)

    @Option(name: .long, help: "Weights file (default: the built-in weights).")
    var weights: String?
    @Option(name: .long, help: "Requests in a row.")
    var requests = 3
    @Option(name: .long, help: "resident or staged.")
    var residency = "resident"
    @Flag(name: .long, help: "Build every network before the first request (as a server does at start-up).")
    var preload = false
    @Option(name: .long, help: "The prompt.")
    var prompt = "a red circle on a blue background"
    @Option(name: .long, help: "Seed of the first request (request k uses seed+k).")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Steps of the prior and decoder (default: the weights file's).")
    var steps: Int?
    @Option(name: .long, help: "Super-resolution steps (default: the weights file's).")
    var superResSteps: Int?
    @Option(name: .long, help: "Memory budget of resident networks in MiB (default: half the physical memory).")
    var budgetMB: Int?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard (1...100).contains(requests) else { throw ValidationError("--requests must be between 1 and 100, got \(requests)") }
        guard ["resident", "staged"].contains(residency) else { throw ValidationError("--residency must be resident or staged, got '\(residency)'") }
        try SamplingOptions.validating {
            var o = GenerationOptions()
            o.decoder.steps = steps; o.superRes.steps = superResSteps
            try o.validate()
        }
        if let budgetMB, budgetMB < 0 { throw ValidationError("--budget-mb must be ≥ 0, got \(budgetMB)") }
    }

    func run() throws {
        let threads = try threading.run { Threading.count }
        let configuration = UnCLIPEngine.Configuration(threads: threads, maxConcurrentRuns: 1,
                                                       residency: residency == "staged" ? .staged
                                                           : budgetMB.map { .resident(budgetBytes: $0 << 20) } ?? .residentDefault)
        let start = residentBytes()
        let engine: UnCLIPEngine
        do { engine = try UnCLIPEngine(path: try WeightsLocator.resolve(weights), configuration: configuration) } catch let e as CLIError {
            throw e
        } catch { throw CLIError("\(error)") }
        print("\(engine.weights.file.path): \(residency), \(threads) threads, RSS after opening \(start >> 20) MiB")
        if preload {
            let t0 = Date()
            let kept = try SamplingOptions.resolving { try engine.weights.preload() }
            print(String(format: "preload %.2f s: %@ (%d MiB float32), RSS %d MiB", Date().timeIntervalSince(t0),
                         kept.joined(separator: ", ") as NSString, engine.weights.resident.bytes >> 20, residentBytes() >> 20))
        }
        print("request   total s   loading s   compute s   peak RSS MiB   RSS after MiB")
        for k in 0..<requests {
            var options = GenerationOptions()
            options.seed = seed &+ UInt64(k)
            options.prior.steps = steps; options.decoder.steps = steps; options.superRes.steps = superResSteps
            let request = try SamplingOptions.resolving { try engine.weights.resolve(.prompt(prompt), options) }
            var loading = 0.0, loadStart: Date?
            let hooks = PipelineHooks(phase: { phase, started in
                guard case .loading = phase else { return }
                if started { loadStart = Date() } else if let s = loadStart { loading += Date().timeIntervalSince(s) }
            })
            PeakRSS.reset()
            let t0 = Date()
            _ = try SamplingOptions.resolving { try engine.generate(request.textToImage!, hooks: hooks) }
            let total = Date().timeIntervalSince(t0)
            print(String(format: "%7d %9.2f %11.3f %11.2f %14d %15d", k + 1, total, loading, total - loading,
                         peakRSSBytes() >> 20, residentBytes() >> 20))
        }
        let kept = engine.weights.resident
        print("resident: \(kept.components.isEmpty ? "none" : kept.components.joined(separator: ", ")) (\(kept.bytes >> 20) MiB float32)")
    }
}
