// A weights file whose components do not fit each other is refused when it is opened, with a message naming both
// sides (issue #14: configs that would otherwise index out of bounds in a forward pass built without checks).
import Foundation
@testable import Pipeline
import WeightIO
import XCTest

final class WeightsConsistencyTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unclip-consistency-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// tiny-a with one key of one component's config JSON replaced.
    private func edited(_ component: String, _ key: String, _ value: Any) throws -> String {
        let path = dir + "/\(component)-\(key).safetensors"
        try WeightWriter.copy(PipelineFixtures.modelPath("tiny-a"), to: path) { meta in
            var config = try! JSONSerialization.jsonObject(with: Data(meta[component + ".config"]!.utf8)) as! [String: Any]
            config[key] = value
            meta[component + ".config"] = String(decoding: try! JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        }
        return path
    }

    private func assertRefused(_ path: String, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try UnCLIPWeights(path: path), file: file, line: line) { error in
            guard case PipelineError.invalidWeights(let message) = error else {
                return XCTFail("expected invalidWeights, got \(error)", file: file, line: line)
            }
            for f in fragments { XCTAssertTrue(message.contains(f), "'\(f)' not in: \(message)", file: file, line: line) }
        }
    }

    func testTheFixtureIsConsistent() throws {
        XCTAssertNoThrow(try UnCLIPWeights(path: PipelineFixtures.modelPath("tiny-a")))
        XCTAssertNoThrow(try UnCLIPWeights(path: PipelineFixtures.modelPath("tiny-b")))
    }

    func testPriorPositionsMustCoverTheTextPlusFourTokens() throws {
        assertRefused(try edited("prior", "num_embeddings", 70), ["prior num_embeddings + additional_embeddings = 74", "77 text tokens + 4"])
    }

    func testTokenizerMustFitTheTextEncoder() throws {
        assertRefused(try edited("text_encoder", "max_position_embeddings", 64), ["model_max_length 77", "max_position_embeddings 64"])
        assertRefused(try edited("text_encoder", "vocab_size", 1000), ["tokenizer ids go up to", "vocab_size 1000"])
    }

    func testComponentsMustAgreeOnWidths() throws {
        assertRefused(try edited("text_proj", "cross_attention_dim", 40), ["decoder cross_attention_dim 48", "text_proj cross_attention_dim 40"])
        assertRefused(try edited("text_proj", "time_embed_dim", 40), ["text_proj time_embed_dim 40"])
        assertRefused(try edited("image_encoder", "projection_dim", 16), ["image_encoder projection_dim 16"])
        assertRefused(try edited("decoder", "in_channels", 4), ["decoder in_channels 4"])
        assertRefused(try edited("super_res_last", "in_channels", 3), ["super_res_last (in_channels 3"])
        assertRefused(try edited("super_res_first", "in_channels", 3), ["super_res_first in_channels 3"])
    }
}
