// Decoder UNet2DConditionModel and super-resolution UNet2DModel against diffusers on both fixture configurations.
import Models
import TensorCore
import WeightIO
import XCTest

final class UNetParityTests: XCTestCase {
    func testDecoderMatchesDiffusers() throws {
        for config in ModelFixtures.configs {
            let unet = try UNet(file: try ModelFixtures.model(config), component: "decoder")
            XCTAssertTrue(unet.isConditional)
            let g = try ModelFixtures.golden(config)
            let mask = try g.intRows("decoder.in.attention_mask")
            for t in try g.ints("decoder.timesteps") {
                let out = unet(sample: try g.golden("decoder.in.sample"), timestep: t, classLabels: try g.golden("decoder.in.class_labels"),
                               encoderHiddenStates: try g.golden("decoder.in.encoder_hidden_states"), attentionMask: mask)
                parity(out, try g.golden("decoder.out.t\(t)"), relTol: 1e-4, "\(config) decoder t=\(t)")
            }
        }
    }

    func testSuperResolutionMatchesDiffusers() throws {
        for config in ModelFixtures.configs {
            let file = try ModelFixtures.model(config), g = try ModelFixtures.golden(config)
            for comp in ["super_res_first", "super_res_last"] {
                let unet = try UNet(file: file, component: comp)
                XCTAssertFalse(unet.isConditional)
                for t in try g.ints("\(comp).timesteps") {
                    let out = unet(sample: try g.golden("super_res.in.sample"), timestep: t)
                    parity(out, try g.golden("\(comp).out.t\(t)"), relTol: 1e-4, "\(config) \(comp) t=\(t)")
                }
            }
        }
    }
}
