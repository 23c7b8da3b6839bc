// The normaliser and pre-tokeniser of transformers' CLIPTokenizer (tokenizers backend):
// NFC, Replace(\s+ → " "), Lowercase; Split(CLIP regex, invert) then ByteLevel's GPT-2 split.
import Foundation

enum CLIPPreTokenizer {
    /// NFC, every run of Unicode white space to one space, lowercase.
    static func normalize(_ text: String) -> String {
        let nfc = text.precomposedStringWithCanonicalMapping
        var out = String.UnicodeScalarView()
        var inSpace = false
        for s in nfc.unicodeScalars {
            if s.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
            } else {
                out.append(s); inSpace = false
            }
        }
        return String(out).lowercased()
    }

    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static let contractions: [[Unicode.Scalar]] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }
    static let specialLiterals: [[Unicode.Scalar]] = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }

    /// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`, matches
    /// kept and everything else (spaces) dropped; first alternative that matches wins, as in a regex.
    static func split(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var out = [String]()
        var i = 0
        func starts(with lit: [Unicode.Scalar], at i: Int) -> Bool {
            i + lit.count <= s.count && Array(s[i..<(i + lit.count)]) == lit
        }
        func emit(_ r: Range<Int>) { var v = String.UnicodeScalarView(); v.append(contentsOf: s[r]); out.append(String(v)) }
        scan: while i < s.count {
            for lit in specialLiterals where starts(with: lit, at: i) {
                // ByteLevel's GPT-2 regex then splits the literal into "<|", the word, "|>".
                emit(i..<(i + 2)); emit((i + 2)..<(i + lit.count - 2)); emit((i + lit.count - 2)..<(i + lit.count))
                i += lit.count
                continue scan
            }
            for c in contractions where starts(with: c, at: i) {
                emit(i..<(i + c.count)); i += c.count
                continue scan
            }
            let c = s[i]
            if isLetter(c) {
                var j = i + 1
                while j < s.count && isLetter(s[j]) { j += 1 }
                emit(i..<j); i = j
            } else if isNumber(c) {
                emit(i..<(i + 1)); i += 1
            } else if c.properties.isWhitespace {
                i += 1
            } else {
                var j = i + 1
                while j < s.count && !isLetter(s[j]) && !isNumber(s[j]) && !s[j].properties.isWhitespace { j += 1 }
                emit(i..<j); i = j
            }
        }
        return out
    }
}
