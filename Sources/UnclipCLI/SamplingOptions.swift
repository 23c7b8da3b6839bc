// Options shared by `generate` and `variations` (decoder, super-res, seed, output), and turning them into pipeline
// requests, output names and PNG metadata. Parsing and naming only: the numbers are the pipeline's.
import ArgumentParser
import Foundation
import ImageIO
import Pipeline
import Schedulers
import TensorCore

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

    @Option(name: .long, help: "Matmul precision: fp32 (the parity path), bf16 (AVX512-BF16 kernels: weights rounded and packed at load, fp32 sums; about 2× faster, half the weight memory) or auto (fp32).")
    var precision: PrecisionChoice = .auto

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
        if let size, Self.parseSize(size) == nil { throw ValidationError("--size must be N or NxN (e.g. 256), got '\(size)'") }
        try SchedulerArgument.validate(decoderScheduler, option: "--decoder-scheduler")
        try SchedulerArgument.validate(superResScheduler, option: "--super-res-scheduler")
        try Self.validating { try options(priorScheduler: nil).validate() }
        if let saveEvery, saveEvery < 1 { throw ValidationError("--save-every must be at least 1, got \(saveEvery)") }
        if let output {
            guard output.lowercased().hasSuffix(".png"), URL(fileURLWithPath: output).lastPathComponent.count > 4 else {
                throw ValidationError("--output must name a .png file, got '\(output)'")
            }
        }
    }

    static func parseSize(_ text: String) -> Int? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let n = Int(parts[0]), n > 0 else { return nil }
        if parts.count == 2 { guard Int(parts[1]) == n else { return nil } }
        return n
    }

    // MARK: turning options into a pipeline request (the pipeline resolves and checks it)

    /// The command-line name of a request field.
    static func optionName(_ field: RequestField) -> String {
        switch field {
        case .prompt: return "the prompt"
        case .canvas: return "the canvas"
        case .n: return "--count"
        case .priorGuidanceScale: return "--prior-guidance"
        case .decoderGuidanceScale: return "--decoder-guidance"
        default: return "--" + field.rawValue.replacingOccurrences(of: "_", with: "-")
        }
    }

    /// Runs `body`, reporting a ``RequestError`` as a usage error named by its option.
    static func validating<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as RequestError { throw ValidationError(e.described(as: optionName(e.field))) }
    }

    /// Runs `body`, reporting a ``RequestError`` by its option and any other error as it describes itself.
    static func resolving<R>(_ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as RequestError { throw CLIError(e.described(as: optionName(e.field))) } catch let e as CLIError {
            throw e
        } catch { throw CLIError("\(error)") }
    }

    /// The request's options; scheduler config files are read here (`priorScheduler` only for `generate`).
    func options(priorScheduler: String?, priorSteps: Int? = nil, priorGuidance: Double? = nil,
                 readingFiles: Bool = false) throws -> GenerationOptions {
        var o = GenerationOptions()
        o.count = count; o.seed = seed; o.eta = eta
        o.size = size.flatMap(Self.parseSize)
        o.prior = StageChoice(steps: priorSteps, guidanceScale: priorGuidance, scheduler: try Self.choice(priorScheduler, readingFiles))
        o.decoder = StageChoice(steps: decoderSteps, guidanceScale: decoderGuidance, scheduler: try Self.choice(decoderScheduler, readingFiles))
        o.superRes = StageChoice(steps: superResSteps, scheduler: try Self.choice(superResScheduler, readingFiles))
        return o
    }

    /// A `--*-scheduler` value: a registry name, or (when `readingFiles`) the contents of a scheduler_config.json.
    static func choice(_ argument: String?, _ readingFiles: Bool) throws -> SchedulerChoice? {
        guard let argument else { return nil }
        if SchedulerArgument(text: argument).isRegistryName { return .named(argument) }
        guard readingFiles else { return nil }
        do {
            return .config(try Data(contentsOf: URL(fileURLWithPath: argument)), label: URL(fileURLWithPath: argument).lastPathComponent)
        } catch {
            throw CLIError("cannot read scheduler config \(argument): \(error.localizedDescription)")
        }
    }

    /// A PNG as a pipeline input picture; errors name the option.
    static func picture(_ path: String, option: String) throws -> InputImage {
        let decoded: PNG.Decoded
        do { decoded = try PNG.read(path: path) } catch { throw CLIError("cannot read \(option) \(path): \(error)") }
        do {
            return try InputImage(width: decoded.image.width, height: decoded.image.height, channels: decoded.image.channels,
                                  pixels: decoded.image.pixels)
        } catch { throw CLIError("\(option) \(path): \(error)") }
    }

    /// The weights file, with the built-in lookup's message when none is found.
    func openWeights() throws -> UnCLIPWeights {
        let path = try WeightsLocator.resolve(weights)
        do { return try UnCLIPWeights(path: path, precision: try precision.resolve()) } catch { throw CLIError("\(error)") }
    }
}
