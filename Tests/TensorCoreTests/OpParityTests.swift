// Every tensor-core op against PyTorch golden values (scripts/make_op_fixtures.py → Fixtures/ops.safetensors).
import TensorCore
import XCTest

final class OpParityTests: XCTestCase {
    let fx = OpFixtures.shared

    func testLinear() {
        for c in ["linear", "linear_nobias"] {
            let w = fx.tensor("\(c).weight")
            let bias = fx.file.tensors["\(c).bias"] != nil ? fx.tensor("\(c).bias") : nil
            let y = Ops.linear(fx.tensor("\(c).x"), weight: w, bias: bias)
            assertClose(y.scalars, fx.tensor("\(c).out").scalars, relTol: 1e-5, c)
        }
    }

    func testConv2d() {
        for c in ["conv3x3", "conv3x3_large", "conv1x1", "conv_patch14"] {
            let g = ConvGeometry(kernel: fx.int(c, "kernel"), stride: fx.int(c, "stride"), padding: fx.int(c, "padding"))
            let bias = fx.file.tensors["\(c).bias"] != nil ? fx.tensor("\(c).bias") : nil
            let y = Ops.conv2d(fx.tensor("\(c).x"), weight: fx.tensor("\(c).weight"), bias: bias, geometry: g)
            let expected = fx.tensor("\(c).out")
            XCTAssertEqual(y.shape, expected.shape, c)
            assertClose(y.scalars, expected.scalars, relTol: 1e-5, c)
        }
    }

    func testGroupNorm() {
        for c in ["groupnorm", "groupnorm_scaleshift_silu", "groupnorm_silu"] {
            let x = fx.tensor("\(c).x"), y = Tensor(uninitialized: x.shape)
            let hasScale = fx.file.tensors["\(c).scale"] != nil
            Ops.groupNorm(x, groups: fx.int(c, "groups"), eps: fx.float(c, "eps"), weight: fx.tensor("\(c).weight"),
                          bias: fx.tensor("\(c).bias"), scale: hasScale ? fx.tensor("\(c).scale") : nil,
                          shift: hasScale ? fx.tensor("\(c).shift") : nil,
                          activation: c.hasSuffix("silu") ? .silu : nil, into: y)
            assertClose(y.scalars, fx.tensor("\(c).out").scalars, relTol: 2e-6, c)
        }
        // In place (y aliases x) must give the same answer.
        let x = fx.tensor("groupnorm.x")
        Ops.groupNorm(x, groups: 4, eps: 1e-5, weight: fx.tensor("groupnorm.weight"), bias: fx.tensor("groupnorm.bias"), into: x)
        assertClose(x.scalars, fx.tensor("groupnorm.out").scalars, relTol: 2e-6, "groupnorm in place")
    }

    func testLayerNorm() {
        let x = fx.tensor("layernorm.x"), y = Tensor(uninitialized: x.shape)
        Ops.layerNorm(x, weight: fx.tensor("layernorm.weight"), bias: fx.tensor("layernorm.bias"), eps: 1e-5, into: y)
        assertClose(y.scalars, fx.tensor("layernorm.out").scalars, relTol: 2e-6, "layernorm")
    }

    func testActivations() {
        for (c, f) in [("silu", Activation.silu), ("quick_gelu", .quickGELU), ("gelu", .gelu)] {
            let x = fx.tensor("\(c).x"), y = Tensor(uninitialized: x.shape)
            Ops.activation(f, x, into: y)
            assertClose(y.scalars, fx.tensor("\(c).out").scalars, relTol: 1e-6, absTol: 1e-6, c)
        }
        let x = fx.tensor("softmax.x"), y = Tensor(uninitialized: x.shape)
        Ops.softmax(x, into: y)
        assertClose(y.scalars, fx.tensor("softmax.out").scalars, relTol: 1e-6, "softmax")
    }

    func testAttention() {
        for c in ["attention_perkey", "attention_perquery", "attention_causal"] {
            let q = fx.tensor("\(c).q"), k = fx.tensor("\(c).k"), v = fx.tensor("\(c).v")
            let heads = fx.int(c, "heads"), out = Tensor(uninitialized: q.shape)
            let mask: AttentionMask? = c == "attention_perkey" ? .perKey(fx.tensor("\(c).mask"))
                : c == "attention_perquery" ? .perQuery(fx.tensor("\(c).mask")) : nil
            Ops.attention(q: AttentionOperand(q), k: AttentionOperand(k), v: AttentionOperand(v), batch: q.shape[0],
                          heads: heads, headDim: q.shape[2] / heads, mask: mask, causal: c.hasSuffix("causal"), into: out)
            assertClose(out.scalars, fx.tensor("\(c).out").scalars, relTol: 1e-5, c)
        }
    }

    func testPoolUpsampleConcat() {
        let x = fx.tensor("avgpool2x2.x")
        let p = Tensor(uninitialized: [2, 3, 4, 3])
        Ops.avgPool2x2(x, into: p)
        assertClose(p.scalars, fx.tensor("avgpool2x2.out").scalars, relTol: 1e-6, "avgpool")
        let u = Tensor(uninitialized: [2, 3, 16, 12])
        Ops.upsampleNearest2x(x, into: u)
        XCTAssertEqual(u.scalars, fx.tensor("upsample_nearest2x.out").scalars, "upsample is exact")
        XCTAssertEqual(Ops.concat(fx.tensor("concat.a"), fx.tensor("concat.b")).scalars, fx.tensor("concat.out").scalars)
    }

    func testBicubic() {
        for name in ["up64to256", "up_odd", "down_odd", "mixed"] {
            for aa in [false, true] {
                let c = "bicubic\(aa ? "_aa" : "")_\(name)"
                let y = Ops.resizeBicubic(fx.tensor("\(c).x"), height: fx.int(c, "height"), width: fx.int(c, "width"), antialias: aa)
                let e = fx.tensor("\(c).out")
                XCTAssertEqual(y.shape, e.shape, c)
                assertClose(y.scalars, e.scalars, relTol: 2e-6, c)
            }
        }
    }

    func testTimestepEmbedding() {
        for c in ["temb320", "temb2048", "temb_odd"] {
            let t = fx.tensor("\(c).t").scalars
            let p = fx.params(c)
            let e = Ops.timestepEmbedding(t, dim: fx.int(c, "dim"), flipSinToCos: p["flip_sin_to_cos"] as! Bool,
                                          downscaleFreqShift: fx.float(c, "downscale_freq_shift"))
            // sin/cos of float32 arguments up to 999 rad: 1-ulp libm differences in the argument are harmless.
            assertClose(e.scalars, fx.tensor("\(c).out").scalars, relTol: 2e-4, c)
        }
    }
}
