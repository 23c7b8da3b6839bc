// PriorTransformer and UnCLIPTextProjModel against diffusers on both fixture configurations.
import Models
import TensorCore
import WeightIO
import XCTest

final class PriorTextProjParityTests: XCTestCase {
    func testPriorMatchesDiffusers() throws {
        for config in ModelFixtures.configs {
            let prior = try PriorTransformer(file: try ModelFixtures.model(config))
            let g = try ModelFixtures.golden(config)
            let mask = try g.intRows("prior.in.attention_mask")
            for t in try g.ints("prior.timesteps") {
                let out = prior(sample: try g.golden("prior.in.hidden_states"), timestep: t, textEmbeds: try g.golden("prior.in.proj_embedding"),
                                textHiddenStates: try g.golden("prior.in.encoder_hidden_states"), textMask: mask)
                parity(out, try g.golden("prior.out.t\(t)"), relTol: 1e-4, "\(config) prior t=\(t)")
            }
            parity(prior.postProcess(try g.golden("prior.in.hidden_states")), try g.golden("prior.post_process.out"), relTol: 1e-6,
                   "\(config) prior post_process")
        }
    }

    func testTextProjectionMatchesDiffusers() throws {
        for config in ModelFixtures.configs {
            let proj = try TextProjection(file: try ModelFixtures.model(config))
            let g = try ModelFixtures.golden(config)
            for mode in ["cfg", "nocfg"] {
                let out = proj(imageEmbeddings: try g.golden("text_proj.\(mode).in.image_embeddings"),
                               promptEmbeds: try g.golden("text_proj.\(mode).in.prompt_embeds"),
                               textHiddenStates: try g.golden("text_proj.\(mode).in.text_encoder_hidden_states"), guidance: mode == "cfg")
                parity(out.encoderHiddenStates, try g.golden("text_proj.\(mode).out.encoder_hidden_states"), relTol: 1e-5, "\(config) text_proj \(mode) ehs")
                parity(out.additiveTimeEmbeddings, try g.golden("text_proj.\(mode).out.additive_clip_time_embeddings"), relTol: 1e-5,
                       "\(config) text_proj \(mode) time")
            }
        }
    }
}
