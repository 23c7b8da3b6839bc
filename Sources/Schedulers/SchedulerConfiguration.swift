// Mirrors diffusers' ConfigMixin / `scheduler_config.json` conventions (configuration_utils.py): snake_case keys,
// every constructor argument optional with the class's default, unknown keys ignored.
import Foundation

/// What the model predicts (`prediction_type`).
public enum PredictionType: String, Codable, Sendable, CaseIterable {
    /// The added noise ε.
    case epsilon
    /// The clean sample x₀ (Karlo's prior).
    case sample
    /// v = √ᾱ·ε − √(1−ᾱ)·x₀.
    case vPrediction = "v_prediction"
}

/// How the ancestral step's variance is chosen (`variance_type`). Each scheduler accepts a subset.
public enum VarianceType: String, Codable, Sendable, CaseIterable {
    /// β̃_t, the posterior variance.
    case fixedSmall = "fixed_small"
    /// β̃_t computed through its log, clamped at 1e-20 (Karlo's prior and super-res).
    case fixedSmallLog = "fixed_small_log"
    /// β_t.
    case fixedLarge = "fixed_large"
    /// log β_t (diffusers' DDPM then takes √ of the log, which is NaN: rejected here).
    case fixedLargeLog = "fixed_large_log"
    /// The model's extra channels are the variance itself.
    case learned
    /// The model's extra channels v ∈ [−1, 1] interpolate log β̃_t (v = −1) … log β_t (v = 1) (Karlo's decoder).
    case learnedRange = "learned_range"
}

/// How `setTimesteps` spreads the inference steps over the training chain (`timestep_spacing`).
public enum TimestepSpacing: String, Codable, Sendable, CaseIterable {
    /// `arange(N) · (T // N)` reversed, plus `steps_offset` (starts below T−1).
    case leading
    /// `round(arange(T, 0, −T/N)) − 1` (always starts at T−1).
    case trailing
    /// `round(linspace(0, T−1, N))` reversed (unCLIP's own spacing).
    case linspace
}

/// The training noise schedule (`beta_schedule`).
public enum BetaSchedule: String, Codable, Sendable, CaseIterable {
    /// `torch.linspace(beta_start, beta_end, T)` in Float32.
    case linear
    /// `torch.linspace(√beta_start, √beta_end, T)²` (Stable Diffusion).
    case scaledLinear = "scaled_linear"
    /// The cosine schedule of Improved DDPM, β capped at 0.999 (Karlo, all stages).
    case squaredcosCapV2 = "squaredcos_cap_v2"
}

extension KeyedDecodingContainer {
    /// The value under `key`, or `fallback` when the key is absent or `null`; a wrong type throws
    /// ``SchedulerError/invalidValue(key:value:expected:)`` naming the key.
    func value<T: Decodable>(_ key: Key, default fallback: T) throws -> T {
        do {
            return try decodeIfPresent(T.self, forKey: key) ?? fallback
        } catch DecodingError.typeMismatch(_, _), DecodingError.dataCorrupted(_) {
            throw SchedulerError.invalidValue(key: key.stringValue, value: rawDescription(key),
                                              expected: SchedulerConfigDecoding.typeName(T.self))
        }
    }

    /// A string-valued option, checked against the enum's cases with an error that lists them.
    func choice<E: RawRepresentable & CaseIterable>(_ key: Key, default fallback: E) throws -> E where E.RawValue == String {
        guard let raw = try value(key, default: String?.none) else { return fallback }
        guard let v = E(rawValue: raw) else {
            throw SchedulerError.invalidValue(key: key.stringValue, value: "\"\(raw)\"",
                                              expected: "one of " + E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        }
        return v
    }

    /// Like ``choice(_:default:)`` for a key whose default is `null`.
    func optionalChoice<E: RawRepresentable & CaseIterable>(_ key: Key) throws -> E? where E.RawValue == String {
        guard let raw = try value(key, default: String?.none) else { return nil }
        guard let v = E(rawValue: raw) else {
            throw SchedulerError.invalidValue(key: key.stringValue, value: "\"\(raw)\"",
                                              expected: "null or one of " + E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
        }
        return v
    }

    private func rawDescription(_ key: Key) -> String {
        if let s = try? decode(String.self, forKey: key) { return "\"\(s)\"" }
        if let d = try? decode(Double.self, forKey: key) { return String(d) }
        if let b = try? decode(Bool.self, forKey: key) { return String(b) }
        return "a value of the wrong type"
    }
}

enum SchedulerConfigDecoding {
    static func typeName<T>(_ type: T.Type) -> String {
        switch type {
        case is Int.Type, is Int?.Type: return "an integer"
        case is Double.Type, is Double?.Type: return "a number"
        case is Bool.Type, is Bool?.Type: return "true or false"
        case is String.Type, is String?.Type: return "a string"
        case is [Double].Type, is [Double]?.Type: return "an array of numbers"
        default: return "\(type)"
        }
    }

    static let nonFinite = (positive: "Infinity", negative: "-Infinity", nan: "NaN")

    /// Decodes a configuration from diffusers JSON, mapping Foundation's errors to ``SchedulerError``.
    /// Python's bare `Infinity` / `-Infinity` / `NaN` (diffusers writes `"lambda_min_clipped": -Infinity`) are accepted.
    static func decode<C: Decodable>(_ type: C.Type, from json: Data) throws -> C {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: nonFinite.positive, negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        do {
            return try decoder.decode(C.self, from: quoteNonFiniteNumbers(json))
        } catch let e as SchedulerError {
            throw e
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw SchedulerError.malformedConfig("expected a JSON object")
        } catch {
            throw SchedulerError.malformedConfig("not valid JSON (\(error.localizedDescription))")
        }
    }

    /// Encodes a configuration as diffusers JSON (non-finite numbers as the strings `decode` accepts).
    static func encode<C: Encodable>(_ value: C) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: nonFinite.positive, negativeInfinity: nonFinite.negative, nan: nonFinite.nan)
        return try encoder.encode(value)
    }

    /// The top-level JSON object of a config, as Foundation values.
    static func object(from json: Data) throws -> [String: Any] {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: quoteNonFiniteNumbers(json))
        } catch {
            throw SchedulerError.malformedConfig("not valid JSON (\(error.localizedDescription))")
        }
        guard let object = parsed as? [String: Any] else { throw SchedulerError.malformedConfig("expected a JSON object") }
        return object
    }

    /// Rewrites Python's bare `Infinity`, `-Infinity` and `NaN` tokens (outside strings) as JSON strings.
    static func quoteNonFiniteNumbers(_ json: Data) -> Data {
        let bytes = [UInt8](json)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 16)
        var i = 0, inString = false
        while i < bytes.count {
            let b = bytes[i]
            if inString {
                out.append(b)
                if b == UInt8(ascii: "\\"), i + 1 < bytes.count { out.append(bytes[i + 1]); i += 2; continue }
                if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if b == UInt8(ascii: "\"") { inString = true; out.append(b); i += 1; continue }
            var matched = false
            for token in ["-Infinity", "Infinity", "NaN"] {
                let t = Array(token.utf8)
                if i + t.count <= bytes.count, Array(bytes[i..<(i + t.count)]) == t {
                    out.append(UInt8(ascii: "\"")); out.append(contentsOf: t); out.append(UInt8(ascii: "\""))
                    i += t.count
                    matched = true
                    break
                }
            }
            if !matched { out.append(b); i += 1 }
        }
        return Data(out)
    }

    /// Throws ``SchedulerError/unsupported(scheduler:option:)`` when `condition` holds.
    static func reject(_ condition: Bool, _ scheduler: String, _ option: String) throws {
        if condition { throw SchedulerError.unsupported(scheduler: scheduler, option: option) }
    }

    /// Checks the training-chain fields shared by all schedulers.
    static func checkTraining(_ scheduler: String, trainTimesteps: Int, trainedBetas: [Double]?) throws {
        if trainTimesteps < 2 {
            throw SchedulerError.invalidValue(key: "num_train_timesteps", value: String(trainTimesteps), expected: "at least 2")
        }
        if let b = trainedBetas, b.count != trainTimesteps {
            throw SchedulerError.invalidValue(key: "trained_betas", value: "\(b.count) values",
                                              expected: "num_train_timesteps = \(trainTimesteps) values")
        }
    }
}
