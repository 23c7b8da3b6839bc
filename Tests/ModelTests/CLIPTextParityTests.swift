// CLIPTextModelWithProjection against transformers on both fixture configurations.
import Models
import TensorCore
import WeightIO
import XCTest

final class CLIPTextParityTests: XCTestCase {
    func testTextEncoderMatchesTransformers() throws {
        for config in ModelFixtures.configs {
            let model = try CLIPTextModel(file: try ModelFixtures.model(config))
            let g = try ModelFixtures.golden(config)
            let ids = try g.intRows("text_encoder.input_ids")
            let out = model(ids: ids)
            parity(out.textEmbeds, try g.golden("text_encoder.text_embeds"), relTol: 1e-4, "\(config) text_embeds")
            parity(out.lastHiddenState, try g.golden("text_encoder.last_hidden_state"), relTol: 1e-4, "\(config) last_hidden_state")
        }
    }

    func testTextEncoderRejectsIncompleteWeights() throws {
        // A model must consume every tensor it owns and find every tensor it needs.
        let file = try ModelFixtures.model("tiny-a")
        var cfg = try JSONSerialization.jsonObject(with: Data(file.metadata["text_encoder.config"]!.utf8)) as! [String: Any]
        cfg["num_hidden_layers"] = (cfg["num_hidden_layers"] as! Int) - 1
        let fewer = try JSONDecoder().decode(CLIPTextConfiguration.self, from: JSONSerialization.data(withJSONObject: cfg))
        XCTAssertThrowsError(try CLIPTextModel(file.scope("text_encoder"), config: fewer)) {
            XCTAssertTrue("\($0)".contains("were not used"), "\($0)")
        }
        cfg["num_hidden_layers"] = (cfg["num_hidden_layers"] as! Int) + 2
        let more = try JSONDecoder().decode(CLIPTextConfiguration.self, from: JSONSerialization.data(withJSONObject: cfg))
        XCTAssertThrowsError(try CLIPTextModel(file.scope("text_encoder"), config: more)) {
            XCTAssertTrue("\($0)".contains("missing tensor 'text_encoder.text_model.encoder.layers."), "\($0)")
        }
    }
}
