// One request model for every front end, mirroring the arguments and checks of diffusers UnCLIPPipeline.__call__ /
// UnCLIPImageVariationPipeline.__call__ (@ 0.42.1) plus what a front end adds: seeds, sizes by side length, a
// scheduler by name or JSON, eta, limits. Field names are those of the HTTP API (OpenAI's `n`, `size`, `prompt`).
import Foundation
import Schedulers

/// A request field, named as the HTTP API names it (and as errors report it, e.g. in OpenAI's `param`).
public enum RequestField: String, Sendable, CaseIterable {
    case prompt, image, mask, n, size, seed, eta, strength
    case imageWeight = "image_weight", resample, maskBlur = "mask_blur", canvas
    case priorSteps = "prior_steps", decoderSteps = "decoder_steps", superResSteps = "super_res_steps"
    case priorGuidanceScale = "prior_guidance_scale", decoderGuidanceScale = "decoder_guidance_scale"
    case priorScheduler = "prior_scheduler", decoderScheduler = "decoder_scheduler", superResScheduler = "super_res_scheduler"
    // The images API's own fields.
    case model, responseFormat = "response_format", stream, partialImages = "partial_images", user

    /// The `<stage>_steps` field.
    public static func steps(_ stage: Stage) -> RequestField {
        switch stage { case .prior: return .priorSteps; case .decoder: return .decoderSteps; case .superRes: return .superResSteps }
    }

    /// The `<stage>_scheduler` field.
    public static func scheduler(_ stage: Stage) -> RequestField {
        switch stage { case .prior: return .priorScheduler; case .decoder: return .decoderScheduler; case .superRes: return .superResScheduler }
    }
}

/// A request value the engine will not run, naming the field. `description` is `"<field> <message>"`
/// (`"decoder_steps must be between 1 and 1000, got 0"`); a front end may put its own name for the field in front
/// of ``message`` instead (`--decoder-steps`).
public struct RequestError: Error, Equatable, CustomStringConvertible, Sendable {
    public let field: RequestField
    /// What is wrong, continuing the field's name (it starts with a word, or with `:` before a nested error).
    public let message: String

    public init(_ field: RequestField, _ message: String) { self.field = field; self.message = message }

    /// The message behind another name for the field.
    public func described(as name: String) -> String { name + (message.hasPrefix(":") ? "" : " ") + message }
    public var description: String { described(as: field.rawValue) }
}

/// Bounds on everything a request controls. Every limit has a test (`RequestTests`).
public struct RequestLimits: Sendable, Equatable {
    /// Images per request (`n`).
    public var maxImages = 256
    /// Denoising steps per stage.
    public var maxSteps = 1000
    /// Prompt length in characters (CLIP reads 77 tokens; longer text only costs tokenizing time).
    public var maxPromptCharacters = 10_000
    /// Pixels of an input image.
    public var maxImagePixels = 4096 * 4096
    /// Longest side over shortest side of an input image: CLIP's preprocessing scales the short side to 224, so
    /// a 16384×1 picture would otherwise become a 224 × 3.7 M-pixel intermediate (2.4 GB).
    public var maxAspectRatio = 16

    public init() {}
    public static let standard = RequestLimits()
}

/// A stage's sampler: a registry name (`"ddim"`), configured from the weights file's config for the stage, or a whole
/// diffusers `scheduler_config.json`.
public enum SchedulerChoice: Sendable, Equatable {
    case named(String)
    /// The JSON text and how the PNG metadata names it (e.g. the file name).
    case config(Data, label: String)
}

/// A stage's settings as asked for; `nil` means the weights file's recommendation, else diffusers' default.
public struct StageChoice: Sendable, Equatable {
    public var steps: Int?
    public var guidanceScale: Double?
    public var scheduler: SchedulerChoice?
    public init(steps: Int? = nil, guidanceScale: Double? = nil, scheduler: SchedulerChoice? = nil) {
        self.steps = steps; self.guidanceScale = guidanceScale; self.scheduler = scheduler
    }
}

/// What a caller asks for, before it is resolved against a weights file.
public struct GenerationOptions: Sendable, Equatable {
    /// Images (`n`); image k uses seed + k.
    public var count = 1
    /// nil: a random seed (reported in the resolved request).
    public var seed: UInt64?
    /// Output side length: the decoder's (no super-resolution) or the super-resolution nets' (nil: the largest).
    public var size: Int?
    /// DDIM's η for the stages that use DDIM.
    public var eta: Double?
    public var prior = StageChoice(), decoder = StageChoice(), superRes = StageChoice()

    public init() {}

    /// The choice for `stage`.
    public func choice(_ stage: Stage) -> StageChoice {
        switch stage { case .prior: return prior; case .decoder: return decoder; case .superRes: return superRes }
    }

    /// Checks every value that needs no weights file (a front end can call this while parsing).
    public func validate(limits: RequestLimits = .standard) throws {
        guard (1...limits.maxImages).contains(count) else {
            throw RequestError(.n, "must be between 1 and \(limits.maxImages), got \(count)")
        }
        if let size, size < 1 { throw RequestError(.size, "must be a positive side length, got \(size)") }
        if let eta, !(eta.isFinite && eta >= 0) { throw RequestError(.eta, "must be a number ≥ 0, got \(eta)") }
        for stage in Stage.allCases {
            if let n = choice(stage).steps, !(1...limits.maxSteps).contains(n) {
                throw RequestError(.steps(stage), "must be between 1 and \(limits.maxSteps), got \(n)")
            }
        }
        for (stage, field) in [(prior, RequestField.priorGuidanceScale), (decoder, .decoderGuidanceScale)] {
            if let g = stage.guidanceScale, !(g.isFinite && g >= 0) { throw RequestError(field, "must be a number ≥ 0, got \(g)") }
        }
        for stage in Stage.allCases {
            if case .named(let name)? = choice(stage).scheduler, !SchedulerRegistry.standard.names.contains(name.lowercased()) {
                throw RequestError(.scheduler(stage), "unknown scheduler '\(name)' (known: \(SchedulerRegistry.standard.names.joined(separator: ", ")))")
            }
        }
    }
}

/// What a request starts from.
public enum RequestInput: Sendable {
    /// Text-to-image (``UnCLIPPipeline``).
    case prompt(String)
    /// Variations of a picture (``UnCLIPImageVariationPipeline``); `name` is recorded in the metadata.
    case image(InputImage, name: String)

    /// Checks the prompt's length or the picture's size and shape.
    public func validate(limits: RequestLimits = .standard) throws {
        switch self {
        case .prompt(let text):
            guard text.count <= limits.maxPromptCharacters else {
                throw RequestError(.prompt, "is \(text.count) characters, over the limit of \(limits.maxPromptCharacters)")
            }
        case .image(let image, _):
            let (w, h) = (image.width, image.height)
            guard w * h <= limits.maxImagePixels else {
                throw RequestError(.image, "is \(w)×\(h) = \(w * h) pixels, over the limit of \(limits.maxImagePixels)")
            }
            guard max(w, h) <= limits.maxAspectRatio * min(w, h) else {
                throw RequestError(.image, "is \(w)×\(h): sides more than \(limits.maxAspectRatio):1 apart are not accepted")
            }
        }
    }
}
