// multipart/form-data (RFC 7578) parts through MultipartKit's parser, kept raw: a part's name from its
// Content-Disposition, its bytes, nothing trusted from its filename or Content-Type (the legacy openai client sends
// files as `application/octet-stream` named `image`; the API sniffs the PNG signature instead).
import Foundation
import MultipartKit
import NIOCore

/// One part of a form.
struct FormPart {
    /// The `name` of its Content-Disposition (nil when it has none).
    var name: String?
    var data: Data
}

enum FormParts {
    /// Most parts a form may have (the API's fields number about twenty).
    static let maxParts = 64

    /// The parts of `body`; a malformed body is a 400.
    static func parse(_ body: ByteBuffer, boundary: String) throws -> [FormPart] {
        let parser = MultipartParser(boundary: boundary)
        var parts: [FormPart] = []
        var current = FormPart(name: nil, data: Data())
        var tooMany = false
        parser.onHeader = { field, value in
            if field.lowercased() == "content-disposition" { current.name = Self.dispositionName(value) }
        }
        parser.onBody = { chunk in
            current.data.append(contentsOf: chunk.readableBytesView)
        }
        parser.onPartComplete = {
            if parts.count >= maxParts { tooMany = true; return }
            parts.append(current)
            current = FormPart(name: nil, data: Data())
        }
        do { try parser.execute(body) } catch {
            throw APIError(.badRequest, "The multipart/form-data body is malformed: \(error).")
        }
        if tooMany { throw APIError(.badRequest, "The form has more than \(maxParts) parts.") }
        guard !parts.isEmpty else { throw APIError(.badRequest, "The multipart/form-data body has no parts (or no closing boundary).") }
        return parts
    }

    /// `name` of `form-data; name="image"; filename="a.png"` (quoted or not; `\"` inside quotes).
    static func dispositionName(_ value: String) -> String? {
        var rest = Substring(value)
        while let r = rest.range(of: "name=", options: .caseInsensitive) {
            let before = rest[..<r.lowerBound].last
            rest = rest[r.upperBound...]
            guard before == nil || before == ";" || before == " " || before == "\t" else { continue }   // not filename=
            if rest.first == "\"" {
                var out = "", escaped = false
                for ch in rest.dropFirst() {
                    if escaped { out.append(ch); escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { return out } else { out.append(ch) }
                }
                return nil
            }
            return String(rest.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
