// The wire formats of the images API (openai-openapi `openapi.yaml` @ dall-e-2; openai-python `resources/images.py`):
// a JSON object for generations, multipart/form-data for edits and variations (numbers and booleans as text, files
// under `image`, `image[]` and `mask`), the extensions in either. Decoding only: the values are Pipeline's to check.
import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import Pipeline

/// One field's value as sent: a JSON value, or a form field's text.
enum WireValue {
    case json(JSONValue)
    case text(String)
}

/// A JSON value that keeps what JSON says of its type (a `true` is not a number, a seed keeps all 64 bits).
enum JSONValue: Decodable {
    case null, bool(Bool), int(Int64), uint(UInt64), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let u = try? c.decode(UInt64.self) { self = .uint(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// How an error message shows the value.
    var shown: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .uint(let u): return "\(u)"
        case .double(let d): return "\(d)"
        case .string(let s): return "'\(s.prefix(40))'"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Builds an ``ImagesCall`` from named values, with OpenAI's 400 for an unknown field or a value of the wrong type.
struct CallDecoder {
    static let common: Set<String> = ["n", "size", "response_format", "model", "user", "seed", "decoder_steps", "super_res_steps",
                                      "decoder_guidance_scale", "decoder_scheduler", "super_res_scheduler"]
    static let promptFields: Set<String> = ["prompt", "stream", "partial_images", "prior_steps", "prior_guidance_scale", "prior_scheduler"]
    static let editFields: Set<String> = ["strength", "image_weight", "resample", "mask_blur"]

    /// The text fields each operation takes (files are `image`, `image[]`, `mask`).
    static func fields(_ operation: ImagesOperation) -> Set<String> {
        switch operation {
        case .generation: return common.union(promptFields).union(["quality", "style"])
        case .edit: return common.union(promptFields).union(editFields)
        case .variation: return common
        }
    }

    /// The call of `operation` with these values (null JSON values count as not sent).
    static func call(_ operation: ImagesOperation, _ values: [(String, WireValue)], files: [(String, Data)]) throws -> ImagesCall {
        var call = ImagesCall(operation: operation)
        let known = fields(operation)
        var seen = Set<String>()
        for (name, value) in values {
            guard known.contains(name) else { throw APIError.invalid(name, "Unrecognized request argument supplied: \(name)") }
            guard seen.insert(name).inserted else { throw APIError.invalid(name, "\(name) is given more than once") }
            if case .json(.null) = value { continue }
            let field = Field(name: name, value: value)
            switch name {
            case "prompt": call.prompt = try field.string()
            case "n": call.n = try field.int()
            case "size": call.size = try field.string()
            case "response_format": call.responseFormat = try field.string()
            case "model": call.model = try field.string()
            case "user": call.user = try field.string()
            case "stream": call.stream = try field.bool()
            case "partial_images": call.partialImages = try field.int()
            case "quality":
                let q = try field.string()
                guard ["standard", "auto"].contains(q) else { throw APIError.invalid(name, "quality must be standard or auto for dall-e-2, got '\(q)'") }
            case "style": throw APIError.invalid(name, "style applies to dall-e-3 only")
            case "seed": call.options.seed = try field.uint64()
            case "prior_steps": call.options.prior.steps = try field.int()
            case "decoder_steps": call.options.decoder.steps = try field.int()
            case "super_res_steps": call.options.superRes.steps = try field.int()
            case "prior_guidance_scale": call.options.prior.guidanceScale = try field.double()
            case "decoder_guidance_scale": call.options.decoder.guidanceScale = try field.double()
            case "prior_scheduler": call.options.prior.scheduler = .named(try field.string())
            case "decoder_scheduler": call.options.decoder.scheduler = .named(try field.string())
            case "super_res_scheduler": call.options.superRes.scheduler = .named(try field.string())
            case "strength": call.strength = try field.double()
            case "image_weight": call.imageWeight = try field.double()
            case "resample": call.resample = try field.int()
            case "mask_blur": call.maskBlur = try field.int()
            default: throw APIError.invalid(name, "Unrecognized request argument supplied: \(name)")
            }
        }
        for (name, data) in files {
            switch name {
            case "image", "image[]":
                guard operation != .generation else { throw APIError.invalid("image", "image does not apply to generations (use /v1/images/edits or /v1/images/variations)") }
                call.images.append(data)
            case "mask":
                guard operation == .edit else { throw APIError.invalid("mask", "mask applies to edits only") }
                guard call.mask == nil else { throw APIError.invalid("mask", "mask is given more than once") }
                call.mask = data
            default: throw APIError.invalid(name, "Unrecognized request argument supplied: \(name)")
            }
        }
        if call.images.count > 1, files.contains(where: { $0.0 == "image" }) {
            throw APIError.invalid("image", "image is given more than once")
        }
        return call
    }

    /// A generations body: a JSON object.
    static func json(_ body: ByteBuffer) throws -> ImagesCall {
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)) } catch {
            throw APIError(.badRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
        }
        guard case .object(let dict) = value else { throw APIError(.badRequest, "The request body must be a JSON object.") }
        return try call(.generation, dict.sorted { $0.key < $1.key }.map { ($0.key, .json($0.value)) }, files: [])
    }

    /// An edits or variations body: multipart/form-data with the boundary of `contentType`.
    static func multipart(_ operation: ImagesOperation, _ body: ByteBuffer, contentType: String?) throws -> ImagesCall {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else {
            throw APIError(.badRequest, "This endpoint takes multipart/form-data (got \(contentType ?? "no Content-Type")).")
        }
        guard let boundary = Self.boundary(contentType) else {
            throw APIError(.badRequest, "The multipart/form-data Content-Type has no boundary.")
        }
        let parts = try FormParts.parse(body, boundary: boundary)
        var values: [(String, WireValue)] = [], files: [(String, Data)] = []
        for part in parts {
            guard let name = part.name else { throw APIError(.badRequest, "A multipart part has no name in its Content-Disposition.") }
            if ["image", "image[]", "mask"].contains(name) {
                files.append((name, part.data))
            } else {
                guard let text = String(data: part.data, encoding: .utf8) else { throw APIError.invalid(name, "\(name) is not UTF-8 text") }
                values.append((name, .text(text)))
            }
        }
        return try call(operation, values, files: files)
    }

    /// The `boundary` parameter of a Content-Type.
    static func boundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let kv = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let v = kv[1].hasPrefix("\"") && kv[1].hasSuffix("\"") && kv[1].count >= 2 ? String(kv[1].dropFirst().dropLast()) : kv[1]
                return v.isEmpty ? nil : v
            }
        }
        return nil
    }
}

/// One field's value with the conversions the API's types need, each failure a 400 naming the field.
struct Field {
    let name: String
    let value: WireValue

    private func wrongType(_ type: String) -> APIError {
        let shown: String
        switch value {
        case .text(let t): shown = "'\(t.prefix(40))'"
        case .json(let v): shown = v.shown
        }
        return APIError.invalid(name, "\(shown) is not of type '\(type)' - '\(name)'")
    }

    func string() throws -> String {
        switch value {
        case .text(let t): return t
        case .json(.string(let s)): return s
        default: throw wrongType("string")
        }
    }

    func int() throws -> Int {
        switch value {
        case .text(let t): if let i = Int(t.trimmingCharacters(in: .whitespaces)) { return i }
        case .json(.int(let i)): if let i = Int(exactly: i) { return i }
        case .json(.double(let d)): if let i = Int(exactly: d) { return i }
        default: break
        }
        throw wrongType("integer")
    }

    func uint64() throws -> UInt64 {
        switch value {
        case .text(let t): if let i = UInt64(t.trimmingCharacters(in: .whitespaces)) { return i }
        case .json(.int(let i)): if let u = UInt64(exactly: i) { return u }
        case .json(.uint(let u)): return u
        case .json(.string(let s)): if let u = UInt64(s) { return u }
        default: break
        }
        throw APIError.invalid(name, "\(name) must be an integer from 0 to 18446744073709551615")
    }

    func double() throws -> Double {
        switch value {
        case .text(let t): if let d = Double(t.trimmingCharacters(in: .whitespaces)), d.isFinite { return d }
        case .json(.int(let i)): return Double(i)
        case .json(.uint(let u)): return Double(u)
        case .json(.double(let d)): return d
        default: break
        }
        throw wrongType("number")
    }

    func bool() throws -> Bool {
        switch value {
        case .text(let t):
            switch t.lowercased() { case "true": return true; case "false": return false; default: break }
        case .json(.bool(let b)): return b
        default: break
        }
        throw wrongType("boolean")
    }
}

extension ImagesCall {
    /// Decodes a request body of `operation` as the server does (JSON for generations, multipart/form-data for edits and
    /// variations), throwing the ``APIError`` it would send. For other front ends and the request fuzzer.
    public static func decode(_ operation: ImagesOperation, body: [UInt8], contentType: String?) throws -> ImagesCall {
        let buffer = ByteBuffer(bytes: body)
        return operation == .generation ? try CallDecoder.json(buffer) : try CallDecoder.multipart(operation, buffer, contentType: contentType)
    }
}
