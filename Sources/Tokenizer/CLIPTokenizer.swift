// Mirrors transformers 5.23 CLIPTokenizer (tokenizers backend): special tokens split from the raw text,
// then NFC → whitespace runs to " " → lowercase, CLIP's split regex, byte-level BPE with "</w>".
import Foundation

/// The CLIP byte-level BPE tokenizer, giving exactly the ids of transformers' `CLIPTokenizer` loaded from
/// the checkpoint's `vocab.json`/`merges.txt` (no ftfy, no HTML unescaping — as transformers 5.x does).
public struct CLIPTokenizer: Sendable {
    /// Token string → id.
    public let vocab: [String: Int]
    let ranks: [String: Int]          // "a b" → merge rank
    /// Special tokens (matched in the raw text before normalisation, like HF added tokens).
    public let specialTokens: [String: Int]
    public let bosID: Int, eosID: Int, padID: Int
    /// Sequence length including BOS and EOS.
    public let maxLength: Int
    let byteToUnicode: [Character]

    /// - Parameters:
    ///   - merges: `merges.txt` lines (`#version` header lines are skipped).
    ///   - vocab: `vocab.json` contents; `nil` builds CLIP's standard vocabulary from the merges.
    ///   - padToken: the checkpoint's pad token (Karlo: `"!"`, id 0); it is also a special token, as in transformers.
    public init(merges: [String], vocab: [String: Int]? = nil, bosToken: String = "<|startoftext|>",
                eosToken: String = "<|endoftext|>", padToken: String = "!", maxLength: Int = 77) throws {
        let pairs = merges.filter { !$0.hasPrefix("#version") && !$0.isEmpty }
        var r = [String: Int](minimumCapacity: pairs.count)
        for (i, m) in pairs.enumerated() where r[m] == nil { r[m] = i }
        ranks = r
        byteToUnicode = CLIPTokenizer.bytesToUnicode()
        let v = vocab ?? CLIPTokenizer.standardVocabulary(merges: pairs, byteToUnicode: byteToUnicode)
        self.vocab = v
        func id(_ t: String) throws -> Int {
            guard let i = v[t] else { throw TokenizerError.unknownSpecialToken(t) }
            return i
        }
        bosID = try id(bosToken); eosID = try id(eosToken); padID = try id(padToken)
        // Not a literal: checkpoints may pad with the end token (pad == eos), which a literal would trap on.
        var special = [String: Int]()
        special[bosToken] = bosID; special[eosToken] = eosID; special[padToken] = padID
        specialTokens = special
        self.maxLength = maxLength
    }

    /// OpenAI's `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 onwards.
    public static func bytesToUnicode() -> [Character] {
        var map = [Character](repeating: " ", count: 256)
        var n = 0
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            map[b] = Character(Unicode.Scalar(printable ? b : 256 + n)!)
            if !printable { n += 1 }
        }
        return map
    }

    /// 256 byte symbols, the same with `</w>`, each merge joined, then `<|startoftext|>`, `<|endoftext|>`.
    public static func standardVocabulary(merges: [String], byteToUnicode: [Character] = bytesToUnicode()) -> [String: Int] {
        var list = [String]()
        let bytes = (0..<256).map { b -> String in
            // Order: printable bytes first (in byte order), then the remapped ones, as bytes_to_unicode's values().
            String(byteToUnicode[b])
        }
        let order = (0..<256).filter { (33...126).contains($0) || (161...172).contains($0) || (174...255).contains($0) }
            + (0..<256).filter { !((33...126).contains($0) || (161...172).contains($0) || (174...255).contains($0)) }
        list += order.map { bytes[$0] }
        list += order.map { bytes[$0] + "</w>" }
        list += merges.map { $0.replacingOccurrences(of: " ", with: "") }
        list += ["<|startoftext|>", "<|endoftext|>"]
        var v = [String: Int](minimumCapacity: list.count)
        for (i, t) in list.enumerated() { v[t] = i }
        return v
    }

    /// The token ids of `text`, without BOS/EOS and without truncation.
    public func encode(_ text: String) -> [Int] {
        var ids = [Int]()
        for segment in splitSpecial(text) {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let t):
                for piece in CLIPPreTokenizer.split(CLIPPreTokenizer.normalize(t)) { ids += bpe(piece) }
            }
        }
        return ids
    }

    /// A prompt as the pipeline feeds it: `[BOS] + tokens[..<maxLength−2] + [EOS]`, padded with the pad id.
    public func tokenize(_ text: String) -> TokenizedPrompt {
        let tokens = encode(text)
        let kept = tokens.prefix(maxLength - 2)
        var ids = [bosID] + kept + [eosID]
        let mask = [Int](repeating: 1, count: ids.count) + [Int](repeating: 0, count: maxLength - ids.count)
        ids += [Int](repeating: padID, count: maxLength - ids.count)
        return TokenizedPrompt(ids: ids, mask: mask, truncated: tokens.count > maxLength - 2,
                               droppedTokens: max(0, tokens.count - (maxLength - 2)),
                               droppedIDs: Array(tokens.dropFirst(maxLength - 2)))
    }

    /// Text for ids, as transformers decodes them: tokens joined, `</w>` → space, byte symbols → UTF-8.
    public func decode(_ ids: [Int]) -> String {
        var inverse = [Int: String](minimumCapacity: vocab.count)
        for (t, i) in vocab { inverse[i] = t }
        var unicodeToByte = [Character: UInt8]()
        for (b, ch) in byteToUnicode.enumerated() { unicodeToByte[ch] = UInt8(b) }
        var bytes = [UInt8]()
        for id in ids {
            guard let t = inverse[id] else { continue }
            if specialTokens[t] != nil && t.hasPrefix("<|") { bytes += Array(t.utf8); continue }
            let word = t.hasSuffix("</w>") ? String(t.dropLast(4)) : t
            for ch in word { if let b = unicodeToByte[ch] { bytes.append(b) } }
            if t.hasSuffix("</w>") { bytes.append(0x20) }
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    enum Segment { case text(String), special(Int) }

    /// Splits out special tokens (leftmost, longest first), as HF's added-token pass does on the raw text.
    func splitSpecial(_ text: String) -> [Segment] {
        let specials = specialTokens.keys.sorted { $0.count > $1.count }
        var out = [Segment]()
        var rest = Substring(text)
        var pending = ""
        outer: while !rest.isEmpty {
            for s in specials where rest.hasPrefix(s) {
                if !pending.isEmpty { out.append(.text(pending)); pending = "" }
                out.append(.special(specialTokens[s]!))
                rest = rest.dropFirst(s.count)
                continue outer
            }
            pending.append(rest.removeFirst())
        }
        if !pending.isEmpty { out.append(.text(pending)) }
        return out
    }

    /// Byte-level BPE of one pre-token: UTF-8 bytes → symbols, `</w>` on the last, merge lowest ranks first.
    func bpe(_ piece: String) -> [Int] {
        var word = piece.utf8.map { String(byteToUnicode[Int($0)]) }
        guard !word.isEmpty else { return [] }
        word[word.count - 1] += "</w>"
        while word.count > 1 {
            var best = Int.max, bestPair = ("", "")
            for i in 0..<(word.count - 1) {
                if let r = ranks[word[i] + " " + word[i + 1]], r < best { best = r; bestPair = (word[i], word[i + 1]) }
            }
            if best == Int.max { break }
            var merged = [String]()
            merged.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i + 1 < word.count && word[i] == bestPair.0 && word[i + 1] == bestPair.1 {
                    merged.append(bestPair.0 + bestPair.1); i += 2
                } else {
                    merged.append(word[i]); i += 1
                }
            }
            word = merged
        }
        return word.map { vocab[$0] ?? eosID }  // unknown symbols map to unk = <|endoftext|>, as in transformers
    }
}

/// A tokenized, padded prompt.
public struct TokenizedPrompt: Equatable, Sendable {
    /// `maxLength` ids: BOS, tokens, EOS, then the pad id.
    public var ids: [Int]
    /// 1 on BOS…EOS, 0 on padding.
    public var mask: [Int]
    /// Whether tokens were cut to fit.
    public var truncated: Bool
    public var droppedTokens: Int
    /// The ids that were cut (for the truncation warning).
    public var droppedIDs: [Int]
}

/// Tokenizer set-up problems.
public enum TokenizerError: Error, CustomStringConvertible {
    case unknownSpecialToken(String)
    case badVocabulary(String)
    public var description: String {
        switch self {
        case .unknownSpecialToken(let t): return "tokenizer: special token '\(t)' is not in the vocabulary"
        case .badVocabulary(let r): return "tokenizer: invalid vocabulary: \(r)"
        }
    }
}
