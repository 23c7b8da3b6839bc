"""Component configs: Karlo v1 alpha (full size) and the tiny fixture configurations.

Karlo's configs are copied from /work/shared/reference/unclip-architecture.md §2.1 (kakaobrain/karlo-v1-alpha
and karlo-v1-alpha-image-variations on the HF Hub). The tiny configs keep Karlo's exact block types and
options and only shrink widths/heads/groups/layers/sizes. Pure Python. Not a command-line tool.
"""
from __future__ import annotations

import copy

# component -> (library, class) as in Karlo's model_index.json (text_proj's library is "unclip" there)
T2I_COMPONENTS = {
    "decoder": ("diffusers", "UNet2DConditionModel"),
    "decoder_scheduler": ("diffusers", "UnCLIPScheduler"),
    "prior": ("diffusers", "PriorTransformer"),
    "prior_scheduler": ("diffusers", "UnCLIPScheduler"),
    "super_res_first": ("diffusers", "UNet2DModel"),
    "super_res_last": ("diffusers", "UNet2DModel"),
    "super_res_scheduler": ("diffusers", "UnCLIPScheduler"),
    "text_encoder": ("transformers", "CLIPTextModelWithProjection"),
    "text_proj": ("unclip", "UnCLIPTextProjModel"),
    "tokenizer": ("transformers", "CLIPTokenizer"),
}
VAR_COMPONENTS = {k: v for k, v in T2I_COMPONENTS.items() if k not in ("prior", "prior_scheduler")}
VAR_COMPONENTS.update({"feature_extractor": ("transformers", "CLIPImageProcessor"),
                       "image_encoder": ("transformers", "CLIPVisionModelWithProjection")})
MODEL_COMPONENTS = ("text_encoder", "image_encoder", "prior", "text_proj", "decoder",
                    "super_res_first", "super_res_last")
SCHEDULERS = ("prior_scheduler", "decoder_scheduler", "super_res_scheduler")

SCHEDULER_CONFIGS = {
    "prior_scheduler": {"_class_name": "UnCLIPScheduler", "clip_sample": True, "clip_sample_range": 5.0,
                        "num_train_timesteps": 1000, "prediction_type": "sample",
                        "variance_type": "fixed_small_log"},
    "decoder_scheduler": {"_class_name": "UnCLIPScheduler", "clip_sample": True, "clip_sample_range": 1.0,
                          "num_train_timesteps": 1000, "prediction_type": "epsilon",
                          "variance_type": "learned_range"},
    "super_res_scheduler": {"_class_name": "UnCLIPScheduler", "clip_sample": True, "clip_sample_range": 1.0,
                            "num_train_timesteps": 1000, "prediction_type": "epsilon",
                            "variance_type": "fixed_small_log"},
}

FEATURE_EXTRACTOR = {
    "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
    "do_normalize": True, "do_rescale": True, "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224},
}

_UNET_COMMON = {"act_fn": "silu", "center_input_sample": False, "downsample_padding": 1,
                "flip_sin_to_cos": True, "freq_shift": 0, "mid_block_scale_factor": 1, "norm_eps": 1e-05}

KARLO = {
    "text_encoder": {
        "architectures": ["CLIPTextModelWithProjection"], "attention_dropout": 0.0, "bos_token_id": 0,
        "dropout": 0.0, "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 768,
        "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 3072,
        "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
        "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768,
        "torch_dtype": "float32", "vocab_size": 49408},
    "image_encoder": {
        "architectures": ["CLIPVisionModelWithProjection"], "attention_dropout": 0.0, "dropout": 0.0,
        "hidden_act": "quick_gelu", "hidden_size": 1024, "image_size": 224, "initializer_factor": 1.0,
        "initializer_range": 0.02, "intermediate_size": 4096, "layer_norm_eps": 1e-05,
        "model_type": "clip_vision_model", "num_attention_heads": 16, "num_channels": 3,
        "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768, "torch_dtype": "float32"},
    "prior": {"_class_name": "PriorTransformer", "additional_embeddings": 4, "attention_head_dim": 64,
              "dropout": 0.0, "embedding_dim": 768, "num_attention_heads": 32, "num_embeddings": 77,
              "num_layers": 20},
    "text_proj": {"_class_name": "UnCLIPTextProjModel", "clip_embeddings_dim": 768,
                  "clip_extra_context_tokens": 4, "cross_attention_dim": 1536, "time_embed_dim": 1280},
    "decoder": dict(_UNET_COMMON, **{
        "_class_name": "UNet2DConditionModel", "attention_head_dim": 64,
        "block_out_channels": [320, 640, 960, 1280], "class_embed_type": "identity",
        "cross_attention_dim": 1536,
        "down_block_types": ["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D",
                             "SimpleCrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D"],
        "dual_cross_attention": False, "in_channels": 3, "layers_per_block": 3,
        "mid_block_type": "UNetMidBlock2DSimpleCrossAttn", "norm_num_groups": 32, "num_class_embeds": None,
        "only_cross_attention": False, "out_channels": 6, "resnet_time_scale_shift": "scale_shift",
        "sample_size": 64,
        "up_block_types": ["SimpleCrossAttnUpBlock2D", "SimpleCrossAttnUpBlock2D",
                           "SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
        "upcast_attention": False, "use_linear_projection": False}),
    "super_res_first": dict(_UNET_COMMON, **{
        "_class_name": "UNet2DModel", "add_attention": False, "attention_head_dim": 8,
        "block_out_channels": [320, 640, 960, 1280], "down_block_types": ["ResnetDownsampleBlock2D"] * 4,
        "in_channels": 6, "layers_per_block": 3, "norm_num_groups": 32, "out_channels": 3,
        "resnet_time_scale_shift": "default", "sample_size": 256, "time_embedding_type": "positional",
        "up_block_types": ["ResnetUpsampleBlock2D"] * 4}),
}
KARLO["super_res_last"] = dict(KARLO["super_res_first"], sample_size=None)

KARLO_PARAMS = {"text_encoder": 123.65e6, "prior": 1022.0e6, "text_proj": 7.88e6, "decoder": 885.4e6,
                "super_res_first": 691.6e6, "super_res_last": 691.6e6, "image_encoder": 303.97e6}


def tiny_config(name: str) -> dict:
    """Tiny random-weight configurations with Karlo's block types. D = CLIP width = embedding dim."""
    if name == "tiny-a":
        D, txt_heads, txt_layers, txt_inter = 24, 4, 2, 64
        prior = dict(num_attention_heads=2, attention_head_dim=16, num_layers=2)
        dec_ch, dec_groups, dec_head, dec_layers, dec_size, cross = [16, 24, 32, 40], 8, 8, 2, 16, 48
        sr_ch, sr_groups, sr_layers, sr_size = [8, 16, 16, 24], 4, 1, 64
        vis = dict(hidden_size=48, num_attention_heads=3, num_hidden_layers=2, intermediate_size=96,
                   patch_size=32)
    elif name == "tiny-b":
        D, txt_heads, txt_layers, txt_inter = 16, 2, 1, 40
        prior = dict(num_attention_heads=3, attention_head_dim=8, num_layers=1)
        dec_ch, dec_groups, dec_head, dec_layers, dec_size, cross = [12, 24, 36], 4, 12, 1, 16, 40
        sr_ch, sr_groups, sr_layers, sr_size = [8, 12, 16], 2, 2, 32
        vis = dict(hidden_size=32, num_attention_heads=2, num_hidden_layers=1, intermediate_size=48,
                   patch_size=28)
    else:
        raise ValueError(f"unknown tiny config {name!r}")
    n = len(dec_ch)
    c = copy.deepcopy(KARLO)
    c["text_encoder"].update(hidden_size=D, num_attention_heads=txt_heads, num_hidden_layers=txt_layers,
                             intermediate_size=txt_inter, projection_dim=D)
    c["image_encoder"].update(projection_dim=D, **vis)
    c["prior"].update(embedding_dim=D, **prior)
    c["text_proj"].update(clip_embeddings_dim=D, cross_attention_dim=cross, time_embed_dim=dec_ch[0] * 4)
    c["decoder"].update(
        attention_head_dim=dec_head, block_out_channels=dec_ch, cross_attention_dim=cross,
        down_block_types=["ResnetDownsampleBlock2D"] + ["SimpleCrossAttnDownBlock2D"] * (n - 1),
        up_block_types=["SimpleCrossAttnUpBlock2D"] * (n - 1) + ["ResnetUpsampleBlock2D"],
        layers_per_block=dec_layers, norm_num_groups=dec_groups, sample_size=dec_size)
    m = len(sr_ch)
    for k in ("super_res_first", "super_res_last"):
        c[k].update(block_out_channels=sr_ch, down_block_types=["ResnetDownsampleBlock2D"] * m,
                    up_block_types=["ResnetUpsampleBlock2D"] * m, layers_per_block=sr_layers,
                    norm_num_groups=sr_groups, sample_size=sr_size if k == "super_res_first" else None)
    return c


TINY_NAMES = ("tiny-a", "tiny-b")


def model_index(pipeline: str, text_proj_library: str = "unclip") -> dict:
    comps = T2I_COMPONENTS if pipeline == "UnCLIPPipeline" else VAR_COMPONENTS
    out = {"_class_name": pipeline, "_diffusers_version": "0.11.0.dev0"}
    for k in sorted(comps):
        lib, cls = comps[k]
        out[k] = [text_proj_library if k == "text_proj" else lib, cls]
    return out
