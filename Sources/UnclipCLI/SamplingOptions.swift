// Options shared by `generate` and `variations` (decoder, super-res, seed, output), and turning them into pipeline
// requests, output names and PNG metadata. Parsing and naming only: the numbers are the pipeline's.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline
import Schedulers

/// The value of a `--*-scheduler` option: a registry name or a diffusers `scheduler_config.json`.
struct SchedulerArgument {
    let text: String
    var isRegistryName: Bool { SchedulerRegistry.standard.names.contains(text.lowercased()) }

    static func validate(_ value: String?, option: String) throws {
        guard let value else { return }
        if SchedulerArgument(text: value).isRegistryName { return }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: value, isDirectory: &isDir), !isDir.boolValue { return }
        throw ValidationError("\(option): unknown scheduler '\(value)' (known: \(SchedulerRegistry.standard.names.joined(separator: ", ")); "
            + "or the path of a diffusers scheduler_config.json)")
    }
}

/// Options of the decoder and super-res stages, the noise and the output, common to both commands.
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Weights file (default: UNCLIP_WEIGHTS, else the built-in weights in weights/).")
    var weights: String?

    @Option(name: .long, help: "Random seed (0…2⁶⁴−1). Image k of -n uses seed+k. Default: a random seed, printed.")
    var seed: UInt64?

    @Option(name: [.customShort("n"), .long], help: "Number of images; each has its own noise (seed, seed+1, …).")
    var count: Int = 1

    @Option(name: .long, help: "Decoder denoising steps. Default: the weights file's recommendation, else 25.")
    var decoderSteps: Int?

    @Option(name: .long, help: "Super-resolution denoising steps (super_res_last runs the last one). Default: the weights file's recommendation, else 7.")
    var superResSteps: Int?

    @Option(name: .long, help: "Decoder classifier-free guidance scale (guidance is on when a scale is > 1). Default: the weights file's recommendation, else 8.")
    var decoderGuidance: Double?

    @Option(name: .long, help: "Decoder sampler: a name (\(SchedulerRegistry.standard.names.joined(separator: ", "))) or a scheduler_config.json path. Default: the weights file's.")
    var decoderScheduler: String?

    @Option(name: .long, help: "Super-resolution sampler (as --decoder-scheduler).")
    var superResScheduler: String?

    @Option(name: .long, help: "DDIM η (0 = deterministic) for the stages that use ddim.")
    var eta: Double?

    @Option(name: .long, help: "Output size: the decoder's (e.g. 64, no super-resolution) or the super-resolution size (e.g. 256, the default). N or NxN.")
    var size: String?

    @Option(name: .long, help: "Every N steps of the decoder and super-res stages, write the predicted image as <output>.<stage>-<step>.png.")
    var saveEvery: Int?

    @Option(name: .long, help: """
        Output PNG. Default: <prompt-slug>-s<seed>.png (variations: <image-name>-variation-s<seed>.png) in the \
        current directory, with -2, -3… added rather than overwriting; image k of -n is named with its own seed. \
        With --output X.png and -n N > 1: X-1.png … X-N.png (image k uses seed+k−1).
        """)
    var output: String?

    @Flag(name: .long, help: "No progress output on stderr.")
    var quiet = false

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard count >= 1 && count <= 256 else { throw ValidationError("--count must be between 1 and 256, got \(count)") }
        if let decoderSteps { try Self.checkSteps(decoderSteps, "--decoder-steps") }
        if let superResSteps { try Self.checkSteps(superResSteps, "--super-res-steps") }
        if let decoderGuidance { try Self.checkGuidance(decoderGuidance, "--decoder-guidance") }
        try SchedulerArgument.validate(decoderScheduler, option: "--decoder-scheduler")
        try SchedulerArgument.validate(superResScheduler, option: "--super-res-scheduler")
        if let eta, !(eta.isFinite && eta >= 0) { throw ValidationError("--eta must be a number ≥ 0, got \(eta)") }
        if let saveEvery, saveEvery < 1 { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if let size, Self.parseSize(size) == nil { throw ValidationError("--size must be N or NxN (e.g. 256), got '\(size)'") }
        if let output {
            guard output.lowercased().hasSuffix(".png"), URL(fileURLWithPath: output).lastPathComponent.count > 4 else {
                throw ValidationError("--output must name a .png file, got '\(output)'")
            }
        }
    }

    static func checkSteps(_ n: Int, _ option: String) throws {
        guard n >= 1 && n <= 1000 else { throw ValidationError("\(option) must be between 1 and 1000, got \(n)") }
    }

    static func checkGuidance(_ g: Double, _ option: String) throws {
        guard g.isFinite && g >= 0 else { throw ValidationError("\(option) must be a number ≥ 0, got \(g)") }
    }

    static func parseSize(_ text: String) -> Int? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let n = Int(parts[0]), n > 0 else { return nil }
        if parts.count == 2 { guard Int(parts[1]) == n else { return nil } }
        return n
    }

    // MARK: turning options into pipeline values

    /// The run's steps and guidance: the options given (the prior's from `generate`), else the weights file's
    /// recommendation, else diffusers' defaults.
    func settings(_ weights: UnCLIPWeights, priorSteps: Int? = nil, priorGuidance: Double? = nil) -> SamplingDefaults {
        weights.samplingDefaults.overridden(priorSteps: priorSteps, decoderSteps: decoderSteps, superResSteps: superResSteps,
                                            priorGuidance: priorGuidance, decoderGuidance: decoderGuidance)
    }

    /// The weights file, with the built-in lookup's message when none is found.
    func openWeights() throws -> UnCLIPWeights {
        let path = try WeightsLocator.resolve(weights)
        do { return try UnCLIPWeights(path: path) } catch { throw CLIError("\(error)") }
    }

    /// The scheduler for a stage from its option (nil: the weights file's).
    func scheduler(_ argument: String?, stage: Stage, weights: UnCLIPWeights) throws -> any Scheduler {
        do {
            guard let argument else { return try weights.makeScheduler(for: stage, eta: eta) }
            if SchedulerArgument(text: argument).isRegistryName { return try weights.makeScheduler(for: stage, name: argument, eta: eta) }
            let json: Data
            do { json = try Data(contentsOf: URL(fileURLWithPath: argument)) } catch {
                throw CLIError("cannot read scheduler config \(argument): \(error.localizedDescription)")
            }
            return try weights.makeScheduler(for: stage, config: json, eta: eta)
        } catch let e as CLIError { throw e } catch {
            throw CLIError("\(stage.rawValue) scheduler: \(error)")
        }
    }

    /// `--eta` only means something to DDIM.
    func checkEta(_ schedulers: [any Scheduler]) throws {
        if eta != nil && !schedulers.contains(where: { $0 is DDIMScheduler }) {
            throw CLIError("--eta applies to the DDIM sampler only, and no stage uses it (e.g. add --decoder-scheduler ddim)")
        }
    }

    /// `--size` against what the weights can produce.
    func outputSize(_ weights: UnCLIPWeights) throws -> OutputSize { try Self.outputSize(size, weights) }

    /// A `--size` value (nil: the largest the weights give) against what the weights can produce.
    static func outputSize(_ size: String?, _ weights: UnCLIPWeights) throws -> OutputSize {
        guard let size, let n = parseSize(size) else { return weights.superResSampleSize == nil ? .decoder : .superRes }
        if let sr = weights.superResSampleSize, n == sr { return .superRes }
        if n == weights.decoderSampleSize { return .decoder }
        let options = ["\(weights.decoderSampleSize) (decoder only)"] + (weights.superResSampleSize.map { ["\($0) (with super-resolution)"] } ?? [])
        throw CLIError("--size \(size) is not available with these weights: use \(options.joined(separator: " or "))")
    }

    /// The seed: given, or random (printed by the caller).
    func resolvedSeed() -> (seed: UInt64, random: Bool) {
        if let seed { return (seed, false) }
        return (UInt64.random(in: 0...UInt64(UInt32.max)), true)
    }

    /// A label for the metadata: the registry name of the scheduler's class, or the config file's name.
    static func label(_ argument: String?, _ scheduler: any Scheduler) -> String {
        if let argument {
            return SchedulerArgument(text: argument).isRegistryName ? argument.lowercased() : URL(fileURLWithPath: argument).lastPathComponent
        }
        if let c = scheduler as? any ConfigurableScheduler {
            let className = type(of: c).className
            return SchedulerRegistry.standard.registrations.first { $0.className == className }?.name ?? className
        }
        return "\(type(of: scheduler))"
    }
}
