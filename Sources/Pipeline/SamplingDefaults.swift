// Mirrors the keyword defaults of diffusers UnCLIPPipeline.__call__ (pipeline_unclip.py @ 0.42.1) and lets a weights
// file replace them: the optional `sampling_defaults` metadata (weights/FORMAT.md), keyed by those argument names.
import Foundation

/// The steps and guidance scales a run uses where the caller does not choose: the weights file's recommendation
/// (`sampling_defaults`) where it gives one, else diffusers' `UnCLIPPipeline` defaults — prior 25 steps at
/// guidance 4, decoder 25 at guidance 8, super-res 7.
///
/// A model trained differently from Karlo may need other settings (the built-in model's decoder, for example, is
/// recommended at a lower guidance scale); a file converted from a diffusers folder without `sampling_defaults.json`
/// keeps diffusers' numbers, so runs stay comparable with `UnCLIPPipeline`.
public struct SamplingDefaults: Equatable, Sendable {
    /// `prior_num_inference_steps`.
    public var priorSteps = 25
    /// `decoder_num_inference_steps`.
    public var decoderSteps = 25
    /// `super_res_num_inference_steps`.
    public var superResSteps = 7
    /// `prior_guidance_scale`.
    public var priorGuidance = 4.0
    /// `decoder_guidance_scale`.
    public var decoderGuidance = 8.0
    /// The keys the weights file set (empty: all of diffusers' defaults).
    public private(set) var keysFromFile: [String] = []

    /// diffusers' defaults.
    public init() {}

    /// diffusers' defaults overridden by the JSON object `json` (the `sampling_defaults` metadata; `nil`: none).
    ///
    /// - Throws: ``PipelineError/invalidWeights(_:)`` naming the key, for an unknown key, a step count that is not a
    ///   whole number in 1…1000 or a guidance scale that is not a finite number ≥ 0.
    public init(json: String?) throws {
        guard let json else { return }
        let object: [String: JSONValue]
        do { object = try JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8)) } catch {
            throw PipelineError.invalidWeights("sampling_defaults is not a JSON object of numbers: \(json.prefix(200))")
        }
        for key in object.keys.sorted() {
            let value = object[key]!
            switch key {
            case "prior_num_inference_steps": priorSteps = try Self.steps(key, value)
            case "decoder_num_inference_steps": decoderSteps = try Self.steps(key, value)
            case "super_res_num_inference_steps": superResSteps = try Self.steps(key, value)
            case "prior_guidance_scale": priorGuidance = try Self.scale(key, value)
            case "decoder_guidance_scale": decoderGuidance = try Self.scale(key, value)
            default:
                throw PipelineError.invalidWeights("sampling_defaults: unknown key '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
            }
        }
        keysFromFile = object.keys.sorted()
    }

    /// These settings with the ones a caller chose (the non-nil arguments) in their place.
    public func overridden(priorSteps: Int? = nil, decoderSteps: Int? = nil, superResSteps: Int? = nil,
                           priorGuidance: Double? = nil, decoderGuidance: Double? = nil) -> SamplingDefaults {
        var s = self
        s.priorSteps = priorSteps ?? s.priorSteps
        s.decoderSteps = decoderSteps ?? s.decoderSteps
        s.superResSteps = superResSteps ?? s.superResSteps
        s.priorGuidance = priorGuidance ?? s.priorGuidance
        s.decoderGuidance = decoderGuidance ?? s.decoderGuidance
        return s
    }

    /// The prior's steps and guidance (the weights file's scheduler).
    public var prior: StageOptions { StageOptions(steps: priorSteps, guidanceScale: Float(priorGuidance)) }
    /// The decoder's steps and guidance (the weights file's scheduler).
    public var decoder: StageOptions { StageOptions(steps: decoderSteps, guidanceScale: Float(decoderGuidance)) }
    /// The super-res steps (the weights file's scheduler).
    public var superRes: StageOptions { StageOptions(steps: superResSteps) }

    /// The keys a file may set: `UnCLIPPipeline.__call__` argument names.
    public static let keys = ["decoder_guidance_scale", "decoder_num_inference_steps", "prior_guidance_scale",
                              "prior_num_inference_steps", "super_res_num_inference_steps"]

    /// A JSON value as far as the defaults care: a number, or something else (shown in errors).
    enum JSONValue: Decodable, CustomStringConvertible {
        case number(Double), other(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .other("\(b)") }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .other("\"\(s)\"") }
            else { self = .other(c.decodeNil() ? "null" : "an array or object") }
        }

        var number: Double? { if case .number(let d) = self { return d } else { return nil } }
        var description: String {
            switch self {
            case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)"
            case .other(let s): return s
            }
        }
    }

    private static func steps(_ key: String, _ value: JSONValue) throws -> Int {
        guard let d = value.number, d == d.rounded(), d >= 1, d <= 1000 else {
            throw PipelineError.invalidWeights("sampling_defaults: \(key) must be a whole number 1…1000, got \(value)")
        }
        return Int(d)
    }

    private static func scale(_ key: String, _ value: JSONValue) throws -> Double {
        guard let d = value.number, d.isFinite, d >= 0 else {
            throw PipelineError.invalidWeights("sampling_defaults: \(key) must be a number ≥ 0, got \(value)")
        }
        return d
    }
}
