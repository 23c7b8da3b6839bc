// Every id equal to transformers' CLIPTokenizer on a 342-prompt corpus (scripts/make_tokenizer_fixtures.py).
import Foundation
import Tokenizer
import XCTest

final class TokenizerTests: XCTestCase {
    static let tokenizer: CLIPTokenizer = {
        let url = Bundle.module.url(forResource: "Fixtures/merges", withExtension: "txt")!
        let merges = try! String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        return try! CLIPTokenizer(merges: merges)
    }()

    func testPadTokenMayBeTheEndToken() throws {
        // openai/clip-vit-* configs pad with "<|endoftext|>"; this trapped once (found by scripts/fuzz.sh FuzzWeights).
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/merges", withExtension: "txt"))
        let merges = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        let t = try CLIPTokenizer(merges: merges, padToken: "<|endoftext|>")
        XCTAssertEqual(t.padID, t.eosID)
        XCTAssertEqual(t.tokenize("a cat").ids.suffix(3), [t.eosID, t.eosID, t.eosID])
        XCTAssertEqual(try CLIPTokenizer(merges: merges, padToken: "<|startoftext|>").padID, t.bosID)
    }

    func testVocabularyShape() {
        let t = Self.tokenizer
        XCTAssertEqual(t.vocab.count, 49408)
        XCTAssertEqual(t.vocab["!"], 0)
        XCTAssertEqual(t.vocab["!</w>"], 256)
        XCTAssertEqual(t.bosID, 49406)
        XCTAssertEqual(t.eosID, 49407)
        XCTAssertEqual(t.padID, 0)
    }

    func testCorpusMatchesTransformersExactly() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/corpus", withExtension: "json"))
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let prompts = try XCTUnwrap(doc["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(prompts.count, 300)
        var failures = 0
        for p in prompts {
            let text = p["text"] as! String
            let got = Self.tokenizer.tokenize(text)
            let ids = p["ids"] as! [Int], mask = p["mask"] as! [Int], truncated = p["truncated"] as! Bool
            if got.ids != ids || got.mask != mask || got.truncated != truncated {
                failures += 1
                if failures <= 10 {
                    let n = mask.reduce(0, +)
                    XCTFail("\(text.debugDescription): got \(got.ids.prefix(max(n, got.mask.reduce(0, +)))) truncated \(got.truncated), expected \(ids.prefix(n)) truncated \(truncated)")
                }
            }
        }
        print("tokenizer corpus: \(prompts.count - failures)/\(prompts.count) prompts identical")
        XCTAssertEqual(failures, 0)
    }

    func testEmptyPromptAndTruncation() {
        let e = Self.tokenizer.tokenize("")
        XCTAssertEqual(Array(e.ids.prefix(3)), [49406, 49407, 0])
        XCTAssertEqual(e.mask.reduce(0, +), 2)
        let long = Self.tokenizer.tokenize(String(repeating: "cat ", count: 100))
        XCTAssertTrue(long.truncated)
        XCTAssertEqual(long.droppedTokens, 25)
        XCTAssertEqual(long.ids.last, 49407)
        XCTAssertEqual(long.mask, [Int](repeating: 1, count: 77))
    }
}
