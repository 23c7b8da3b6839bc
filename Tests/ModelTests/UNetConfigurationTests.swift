// Decoding Karlo's published configs verbatim (unclip-architecture.md §2.1), including keys they omit.
import Foundation
import Models
import XCTest

final class UNetConfigurationTests: XCTestCase {
    func testKarloSuperResConfigWithoutMidBlockType() throws {
        let json = """
        { "_class_name": "UNet2DModel", "act_fn": "silu", "add_attention": false, "attention_head_dim": 8,
          "block_out_channels": [320, 640, 960, 1280], "center_input_sample": false,
          "down_block_types": ["ResnetDownsampleBlock2D","ResnetDownsampleBlock2D","ResnetDownsampleBlock2D","ResnetDownsampleBlock2D"],
          "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 6,
          "layers_per_block": 3, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
          "out_channels": 3, "resnet_time_scale_shift": "default", "sample_size": 256,
          "time_embedding_type": "positional",
          "up_block_types": ["ResnetUpsampleBlock2D","ResnetUpsampleBlock2D","ResnetUpsampleBlock2D","ResnetUpsampleBlock2D"] }
        """
        let c = try JSONDecoder().decode(UNetConfiguration.self, from: Data(json.utf8))
        XCTAssertEqual(c.midBlockType, "UNetMidBlock2D")
        XCTAssertFalse(c.addAttention)
        XCTAssertEqual(c.resnetTimeScaleShift, "default")
    }

    func testUnsupportedOptionsAreRefused() {
        let json = """
        { "_class_name": "UNet2DModel", "in_channels": 3, "out_channels": 3, "block_out_channels": [32],
          "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock2D"], "time_embedding_type": "fourier" }
        """
        XCTAssertThrowsError(try JSONDecoder().decode(UNetConfiguration.self, from: Data(json.utf8))) {
            XCTAssertTrue("\($0)".contains("time_embedding_type=fourier"), "\($0)")
        }
    }
}
