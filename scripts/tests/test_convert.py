"""Tests for scripts/convert.py and scripts/unclip_format.py, runnable WITHOUT torch.

Mirrors the folder layout diffusers' UnCLIPPipeline.save_pretrained writes (kakaobrain/karlo-v1-alpha
layout). Tiny folders are generated here with numpy + safetensors and hand-written config JSONs.
Run:  python -m pytest -q scripts/tests   (needs only pytest, numpy, safetensors)
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SCRIPTS)

from unclip_format import FormatError, SafeFile, bf16_bits_to_f32, f32_to_bf16_bits, read_all  # noqa: E402
from unclip_spec import spec_for  # noqa: E402

CONVERT = os.path.join(SCRIPTS, "convert.py")
UNET = {"act_fn": "silu", "center_input_sample": False, "downsample_padding": 1, "flip_sin_to_cos": True,
        "freq_shift": 0, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 4,
        "layers_per_block": 1, "block_out_channels": [8, 16]}
CONFIGS = {
    "text_encoder": ("CLIPTextModelWithProjection", {
        "architectures": ["CLIPTextModelWithProjection"], "model_type": "clip_text_model", "hidden_size": 8,
        "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1, "max_position_embeddings": 77,
        "projection_dim": 8, "vocab_size": 70, "hidden_act": "quick_gelu", "eos_token_id": 2}),
    "image_encoder": ("CLIPVisionModelWithProjection", {
        "architectures": ["CLIPVisionModelWithProjection"], "model_type": "clip_vision_model", "hidden_size": 8,
        "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1, "image_size": 32,
        "patch_size": 16, "projection_dim": 8, "hidden_act": "quick_gelu"}),
    "prior": ("PriorTransformer", {"_class_name": "PriorTransformer", "additional_embeddings": 4,
                                   "attention_head_dim": 4, "embedding_dim": 8, "num_attention_heads": 2,
                                   "num_embeddings": 77, "num_layers": 1}),
    "text_proj": ("UnCLIPTextProjModel", {"_class_name": "UnCLIPTextProjModel", "clip_embeddings_dim": 8,
                                          "clip_extra_context_tokens": 4, "cross_attention_dim": 12,
                                          "time_embed_dim": 32}),
    "decoder": ("UNet2DConditionModel", dict(UNET, **{
        "_class_name": "UNet2DConditionModel", "attention_head_dim": 8, "class_embed_type": "identity",
        "cross_attention_dim": 12, "down_block_types": ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"],
        "up_block_types": ["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"], "in_channels": 3,
        "out_channels": 6, "mid_block_type": "UNetMidBlock2DSimpleCrossAttn", "resnet_time_scale_shift":
        "scale_shift", "sample_size": 8})),
    "super_res_first": ("UNet2DModel", dict(UNET, **{
        "_class_name": "UNet2DModel", "add_attention": False, "down_block_types": ["ResnetDownsampleBlock2D"] * 2,
        "up_block_types": ["ResnetUpsampleBlock2D"] * 2, "in_channels": 6, "out_channels": 3,
        "resnet_time_scale_shift": "default", "sample_size": 16})),
}
CONFIGS["super_res_last"] = ("UNet2DModel", dict(CONFIGS["super_res_first"][1], sample_size=None))
SCHED = {"_class_name": "UnCLIPScheduler", "clip_sample": True, "clip_sample_range": 1.0,
         "num_train_timesteps": 1000, "prediction_type": "epsilon", "variance_type": "fixed_small_log"}
T2I = ["text_encoder", "prior", "text_proj", "decoder", "super_res_first", "super_res_last"]
VOCAB = ["!", '"', "a", "b", "c", "a</w>", "b</w>", "c</w>", "ab", "ab</w>", "<|startoftext|>", "<|endoftext|>"]


def weights_name(comp):
    return "model.safetensors" if comp in ("text_encoder", "image_encoder") else "diffusion_pytorch_model.safetensors"


def make_tensors(comp, seed=0):
    cls, cfg = CONFIGS[comp]
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in spec_for(cls, cfg).items()}


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def make_folder(root, pipeline="UnCLIPPipeline", extra_image_encoder=False):
    comps = list(T2I) if pipeline == "UnCLIPPipeline" else [c for c in T2I if c != "prior"] + ["image_encoder"]
    if extra_image_encoder:
        comps.append("image_encoder")
    idx = {"_class_name": pipeline, "tokenizer": ["transformers", "CLIPTokenizer"]}
    for i, c in enumerate(comps):
        cls, cfg = CONFIGS[c]
        idx[c] = ["unclip" if c == "text_proj" else "diffusers", cls]
        write_json(os.path.join(root, c, "config.json"), cfg)
        save_file(make_tensors(c, i), os.path.join(root, c, weights_name(c)))
    scheds = ["decoder_scheduler", "super_res_scheduler"] + (["prior_scheduler"] if "prior" in comps else [])
    for s in scheds:
        idx[s] = ["diffusers", "UnCLIPScheduler"]
        write_json(os.path.join(root, s, "scheduler_config.json"), SCHED)
    if "image_encoder" in comps:
        idx["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
        write_json(os.path.join(root, "feature_extractor", "preprocessor_config.json"), {"crop_size": 224})
    write_json(os.path.join(root, "model_index.json"), idx)
    tok = os.path.join(root, "tokenizer")
    write_json(os.path.join(tok, "vocab.json"), {t: i for i, t in enumerate(VOCAB)})
    with open(os.path.join(tok, "merges.txt"), "w") as f:
        f.write("#version: 0.2\na b\na b</w>\n")
    write_json(os.path.join(tok, "special_tokens_map.json"), {"pad_token": "!", "bos_token": "<|startoftext|>",
                                                             "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    write_json(os.path.join(tok, "tokenizer_config.json"), {"model_max_length": 77, "do_lower_case": True})
    return root


def run(src, dst, *extra):
    p = subprocess.run([sys.executable, CONVERT, str(src), str(dst), *extra], capture_output=True, text=True)
    return p.returncode, p.stderr


@pytest.fixture
def folder(tmp_path):
    return make_folder(str(tmp_path / "karlo-tiny"))


def assert_failed(tmp_path, code, err, *needles):
    assert code == 1, err
    assert err.startswith("error: "), err
    for n in needles:
        assert n in err, err
    leftovers = [f for f in os.listdir(tmp_path) if f.startswith("out")]
    assert leftovers == [], leftovers


# ------------------------------------------------------------------------------------------------ happy paths

def test_happy_path(folder, tmp_path):
    out = tmp_path / "out.safetensors"
    code, err = run(folder, out)
    assert code == 0, err
    with safe_open(str(out), "np") as f:
        keys = set(f.keys())
        meta = f.metadata()
        want = {f"{c}.{k}" for c in T2I for k in make_tensors(c)}
        assert keys == want
        for i, c in enumerate(T2I):
            for k, v in make_tensors(c, i).items():
                np.testing.assert_array_equal(f.get_tensor(f"{c}.{k}"), v)
    for k in ("format", "format_version", "components", "pipeline", "source", "tokenizer.vocab",
              "tokenizer.merges", "tokenizer.config", "prior_scheduler.config", "decoder_scheduler.config",
              "super_res_scheduler.config"):
        assert k in meta, k
    for c in T2I:
        assert json.loads(meta[f"{c}.config"]) == CONFIGS[c][1]
        assert meta[f"{c}.class"] == CONFIGS[c][0]
    assert meta["format"] == "unclip" and meta["format_version"] == "1" and meta["pipeline"] == "UnCLIPPipeline"
    assert meta["components"] == ",".join(T2I)
    tok = json.loads(meta["tokenizer.config"])
    assert tok["pad_token"] == "!" and tok["pad_token_id"] == 0 and tok["model_max_length"] == 77
    assert meta["tokenizer.merges"].startswith("#version")
    assert json.loads(meta["tokenizer.vocab"])["<|endoftext|>"] == len(VOCAB) - 1
    # our own strict reader accepts it, and the data start is 8-aligned (F32 stays aligned)
    with SafeFile(str(out), allowed_dtypes=("F32", "F16", "BF16")) as sf:
        assert sf.data_start % 8 == 0
        assert all(t.begin % 4 == 0 for t in sf.tensors.values())


def test_sampling_defaults_are_carried_into_the_metadata(folder, tmp_path):
    out = tmp_path / "out.safetensors"
    code, err = run(folder, out)
    assert code == 0, err
    with safe_open(str(out), "np") as f:
        assert "sampling_defaults" not in f.metadata()  # absent: readers use diffusers' defaults
    write_json(os.path.join(folder, "sampling_defaults.json"), {"decoder_guidance_scale": 2, "prior_num_inference_steps": 10})
    code, err = run(folder, out)
    assert code == 0, err
    with safe_open(str(out), "np") as f:
        assert json.loads(f.metadata()["sampling_defaults"]) == {"decoder_guidance_scale": 2,
                                                                 "prior_num_inference_steps": 10}


@pytest.mark.parametrize("obj,needle", [
    ({"decoder_guidance": 2.0}, "unknown key 'decoder_guidance'"),
    ({"decoder_guidance_scale": -1}, "decoder_guidance_scale must be a number >= 0"),
    ({"decoder_guidance_scale": "8"}, "decoder_guidance_scale must be a number >= 0"),
    ({"prior_num_inference_steps": 2.5}, "prior_num_inference_steps must be an integer 1...1000"),
    ({"super_res_num_inference_steps": 0}, "super_res_num_inference_steps must be an integer 1...1000"),
    ({"decoder_num_inference_steps": True}, "decoder_num_inference_steps must be an integer 1...1000"),
    ([2.0], "is not a JSON object"),
])
def test_bad_sampling_defaults(folder, tmp_path, obj, needle):
    write_json(os.path.join(folder, "sampling_defaults.json"), obj)
    code, err = run(folder, tmp_path / "out.safetensors")
    assert_failed(tmp_path, code, err, needle)


def test_deterministic_and_dtype_cast(folder, tmp_path):
    a, b, h = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "h.safetensors"
    assert run(folder, a)[0] == 0 and run(folder, b)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert run(folder, h, "--dtype", "bf16")[0] == 0
    src, _ = read_all(str(a))
    half, _ = read_all(str(h))
    with SafeFile(str(h)) as sf:
        assert {t.dtype for t in sf.tensors.values()} == {"BF16"}
    for k, v in src.items():
        np.testing.assert_array_equal(bf16_bits_to_f32(half[k]), bf16_bits_to_f32(f32_to_bf16_bits(v)))
    f16 = tmp_path / "f16.safetensors"
    assert run(folder, f16, "--dtype", "f16")[0] == 0
    with safe_open(str(f16), "np") as f:
        np.testing.assert_array_equal(f.get_tensor("prior.clip_std"), src["prior.clip_std"].astype(np.float16))


def test_position_ids_buffer_dropped_and_sharded(folder, tmp_path):
    te = os.path.join(folder, "text_encoder")
    t = make_tensors("text_encoder", 0)
    t["text_model.embeddings.position_ids"] = np.arange(77, dtype=np.int64)[None]
    keys = sorted(t)
    half = len(keys) // 2
    os.remove(os.path.join(te, "model.safetensors"))
    shards = {"model-00001-of-00002.safetensors": keys[:half], "model-00002-of-00002.safetensors": keys[half:]}
    for name, ks in shards.items():
        save_file({k: t[k] for k in ks}, os.path.join(te, name))
    write_json(os.path.join(te, "model.safetensors.index.json"),
               {"metadata": {}, "weight_map": {k: n for n, ks in shards.items() for k in ks}})
    out = tmp_path / "out.safetensors"
    code, err = run(folder, out)
    assert code == 0, err
    with safe_open(str(out), "np") as f:
        assert "text_encoder.text_model.embeddings.position_ids" not in f.keys()
        np.testing.assert_array_equal(f.get_tensor("text_encoder.text_projection.weight"),
                                      t["text_projection.weight"])


def test_tokenizer_json_only(folder, tmp_path):
    tok = os.path.join(folder, "tokenizer")
    os.remove(os.path.join(tok, "vocab.json"))
    os.remove(os.path.join(tok, "merges.txt"))
    write_json(os.path.join(tok, "tokenizer.json"), {"model": {"type": "BPE", "merges": [["a", "b"], ["a", "b</w>"]],
                                                               "vocab": {t: i for i, t in enumerate(VOCAB)}}})
    out = tmp_path / "out.safetensors"
    code, err = run(folder, out)
    assert code == 0, err
    with safe_open(str(out), "np") as f:
        assert f.metadata()["tokenizer.merges"] == "#version: 0.2\na b\na b</w>\n"


def test_variation_layout_and_combined(tmp_path):
    var = make_folder(str(tmp_path / "var"), "UnCLIPImageVariationPipeline")
    out = tmp_path / "out_var.safetensors"
    code, err = run(var, out)
    assert code == 0, err
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
        assert meta["pipeline"] == "UnCLIPImageVariationPipeline"
        assert "image_encoder" in meta["components"] and "prior" not in meta["components"]
        assert "feature_extractor.config" in meta and "prior_scheduler.config" not in meta
    both = make_folder(str(tmp_path / "both"), extra_image_encoder=True)
    out2 = tmp_path / "out_both.safetensors"
    code, err = run(both, out2)
    assert code == 0, err
    with safe_open(str(out2), "np") as f:
        assert f.metadata()["components"] == "text_encoder,image_encoder,prior,text_proj,decoder," \
                                             "super_res_first,super_res_last"


# ------------------------------------------------------------------------------------------------ errors

def test_missing_component_folder(folder, tmp_path):
    shutil.rmtree(os.path.join(folder, "decoder"))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'decoder'", "missing folder")


def test_missing_scheduler_and_model_index(folder, tmp_path):
    shutil.rmtree(os.path.join(folder, "super_res_scheduler"))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "super_res_scheduler")
    os.remove(os.path.join(folder, "model_index.json"))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "model_index.json")


def test_missing_key(folder, tmp_path):
    p = os.path.join(folder, "prior", weights_name("prior"))
    t = make_tensors("prior", 1)
    del t["clip_std"]
    save_file(t, p)
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'prior'", "missing key", "'clip_std'")


def test_unexpected_key(folder, tmp_path):
    p = os.path.join(folder, "decoder", weights_name("decoder"))
    t = make_tensors("decoder", 3)
    t["down_blocks.9.resnets.0.conv1.weight"] = np.zeros((2, 2), np.float32)
    save_file(t, p)
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'decoder'", "unexpected key",
                  "down_blocks.9.resnets.0.conv1.weight")


def test_wrong_shape(folder, tmp_path):
    p = os.path.join(folder, "text_proj", weights_name("text_proj"))
    t = make_tensors("text_proj", 2)
    t["clip_extra_context_tokens_proj.weight"] = np.zeros((47, 8), np.float32)
    save_file(t, p)
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'text_proj'",
                  "clip_extra_context_tokens_proj.weight", "[47, 8]", "[48, 8]")


def test_config_change_is_a_shape_error(folder, tmp_path):
    cls, cfg = CONFIGS["super_res_last"]
    write_json(os.path.join(folder, "super_res_last", "config.json"), dict(cfg, out_channels=4))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'super_res_last'", "conv_out")


def test_missing_config_json(folder, tmp_path):
    os.remove(os.path.join(folder, "text_encoder", "config.json"))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'text_encoder'", "config.json")


def test_missing_weights_and_wrong_class(folder, tmp_path):
    os.remove(os.path.join(folder, "super_res_first", weights_name("super_res_first")))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'super_res_first'", "no weights file")
    make_folder(folder)
    cls, cfg = CONFIGS["prior"]
    write_json(os.path.join(folder, "prior", "config.json"), dict(cfg, _class_name="UNet2DModel"))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'prior'", "UNet2DModel")


def test_unsupported_block_type(folder, tmp_path):
    cls, cfg = CONFIGS["decoder"]
    write_json(os.path.join(folder, "decoder", "config.json"), dict(cfg, down_block_types=["DownBlock2D"] * 2))
    assert_failed(tmp_path, *run(folder, tmp_path / "out.safetensors"), "'decoder'", "DownBlock2D")


# ------------------------------------------------------------------------------------------------ format reader

def _raw_file(path, header: dict, data: bytes, pad=True):
    h = json.dumps(header).encode()
    if pad:
        h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


@pytest.mark.parametrize("header,data,needle", [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4, "needs 8"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "trailing"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "hole"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "overlaps"),
    ({"a": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "unknown dtype"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}, b"", "non-negative"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "outside"),
])
def test_reader_rejects(tmp_path, header, data, needle):
    p = str(tmp_path / "bad.safetensors")
    _raw_file(p, header, data)
    with pytest.raises(FormatError, match=needle):
        SafeFile(p)


def test_reader_rejects_bad_header(tmp_path):
    p = str(tmp_path / "bad.safetensors")
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(FormatError, match="past the end"):
        SafeFile(p)
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", 2) + b"[]")
    with pytest.raises(FormatError, match="not a JSON object"):
        SafeFile(p)
    _raw_file(p, {"a": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8)
    with pytest.raises(FormatError, match="not allowed"):
        SafeFile(p, allowed_dtypes=("F32", "F16", "BF16"))


def test_bf16_rounding():
    x = np.array([1.0, 1.00390625, 1.0078125 + 2**-8, -3.5, np.inf, np.nan, 1e-40], np.float32)
    b = f32_to_bf16_bits(x)
    assert b[0] == 0x3F80 and b[1] == 0x3F80  # tie to even
    assert b[2] == 0x3F82 and b[3] == 0xC060 and b[4] == 0x7F80 and b[5] == 0x7FC0
    np.testing.assert_array_equal(bf16_bits_to_f32(b)[:5], np.array([1, 1, 1.015625, -3.5, np.inf], np.float32))


def test_bin_input_when_torch_is_available(folder, tmp_path):
    torch = pytest.importorskip("torch")
    t = make_tensors("prior", 1)
    os.remove(os.path.join(folder, "prior", weights_name("prior")))
    torch.save({k: torch.from_numpy(v).to(torch.bfloat16) for k, v in t.items()},
               os.path.join(folder, "prior", "diffusion_pytorch_model.bin"))
    out = tmp_path / "out.safetensors"
    code, err = run(folder, out)
    assert code == 0, err
    got, _ = read_all(str(out))
    for k, v in t.items():
        np.testing.assert_array_equal(got[f"prior.{k}"], f32_to_bf16_bits(v))
