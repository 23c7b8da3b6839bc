// The tokenizer stored in a weights file's metadata (weights/FORMAT.md: tokenizer.vocab / .merges / .config).
import Foundation
import Tokenizer
import WeightIO

extension CLIPTokenizer {
    /// The checkpoint's tokenizer: its merges, vocabulary and special tokens (Karlo pads with `"!"`).
    public init(file: WeightFile) throws {
        let merges = try file.requireMetadata("tokenizer.merges").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        var vocab: [String: Int]?
        if let text = file.metadata["tokenizer.vocab"] {
            guard let v = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int] else {
                throw TokenizerError.badVocabulary("tokenizer.vocab is not a JSON object of ids")
            }
            vocab = v
        }
        var bos = "<|startoftext|>", eos = "<|endoftext|>", pad = "<|endoftext|>", maxLength = 77
        if let text = file.metadata["tokenizer.config"],
           let cfg = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            func token(_ k: String) -> String? {
                if let s = cfg[k] as? String { return s }
                return (cfg[k] as? [String: Any])?["content"] as? String
            }
            bos = token("bos_token") ?? bos; eos = token("eos_token") ?? eos; pad = token("pad_token") ?? pad
            if let m = cfg["model_max_length"] as? Int, m > 2, m <= 77 { maxLength = m }
        }
        try self.init(merges: merges, vocab: vocab, bosToken: bos, eosToken: eos, padToken: pad, maxLength: maxLength)
    }
}
