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
        try checkHeaderNames(body, boundary: boundary)
        do { try parser.execute(body) } catch {
            throw APIError(.badRequest, "The multipart/form-data body is malformed: \(error).")
        }
        if tooMany { throw APIError(.badRequest, "The form has more than \(maxParts) parts.") }
        guard !parts.isEmpty else { throw APIError(.badRequest, "The multipart/form-data body has no parts (or no closing boundary).") }
        return parts
    }

    /// Refuses a header name with a byte ≥ 0x80 before MultipartKit 4.7.1's parser sees it: its header-name check
    /// indexes a 128-entry table with the byte and traps (a remote crash; found by scripts/fuzz.sh FuzzRequests).
    /// This walks the body through the parser's own state machine (MultipartParser.swift @ 4.7.1: preamble, CR LF,
    /// header name to `:`, value to CR LF, a CR where a name starts ends the headers, body up to CR LF `--boundary`,
    /// then CR or `-`), in one pass, and stops where the parser would stop with a syntax error.
    static func checkHeaderNames(_ body: ByteBuffer, boundary: String) throws {
        enum State { case preamble(Int), preHeaders(cr: Bool), name(empty: Bool), value, postValue, postHeaders, body, boundary(Int) }
        let delimiter = Array("\r\n--\(boundary)".utf8)
        let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, colon = UInt8(ascii: ":")
        var state = State.preamble(0)
        for byte in body.readableBytesView {
            switch state {
            case .preamble(let i):
                let next = i == 0 && byte == delimiter[2] ? 3 : byte == delimiter[i] ? i + 1 : (i > 0 && byte == delimiter[0] ? 1 : 0)
                state = next >= delimiter.count ? .preHeaders(cr: true) : .preamble(next)
            case .preHeaders(let wantCR):
                guard byte == (wantCR ? cr : lf) else { return }
                state = wantCR ? .preHeaders(cr: false) : .name(empty: true)
            case .name(let empty):
                if byte == colon && !empty { state = .value }
                else if byte == cr && empty { state = .postHeaders }
                else if byte >= 0x80 { throw APIError(.badRequest, "A multipart part header has a name that is not ASCII.") }
                else { state = .name(empty: false) }         // (the parser refuses some ASCII too; going on only checks more)
            case .value:
                if byte == cr { state = .postValue }
            case .postValue:
                guard byte == lf else { return }
                state = .name(empty: true)
            case .postHeaders:
                guard byte == lf else { return }
                state = .body
            case .body:
                if byte == delimiter[0] { state = .boundary(1) }
            case .boundary(let i):
                if i >= delimiter.count {
                    if byte == cr { state = .preHeaders(cr: false) } else { return }   // `-`: the epilogue; else a syntax error
                } else if byte == delimiter[i] {
                    state = .boundary(i + 1)
                } else {
                    state = byte == delimiter[0] ? .boundary(1) : .body
                }
            }
        }
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
