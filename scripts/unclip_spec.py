"""Pure-Python state-dict specs (key -> shape) of the unCLIP components, derived from their configs.

Mirrors the constructors of (diffusers 0.42.1 / transformers 5.23.0):
  transformers CLIPTextModelWithProjection, CLIPVisionModelWithProjection (models/clip/modeling_clip.py)
  diffusers PriorTransformer (models/transformers/prior_transformer.py)
  diffusers UnCLIPTextProjModel (pipelines/deprecated/unclip/text_proj.py)
  diffusers UNet2DConditionModel / UNet2DModel (models/unets/unet_2d_condition.py, unet_2d.py,
    unet_2d_blocks.py) restricted to the block types Karlo uses.
No torch needed. scripts/make_fixtures.py cross-checks these specs against the real classes
instantiated on the "meta" device (tiny configs and the full Karlo configs).

API: spec_for(class_name, config) -> dict[key, shape tuple]; raises SpecError for unsupported configs.
"""
from __future__ import annotations


class SpecError(Exception):
    pass


def _linear(d, name, out_f, in_f, bias=True):
    d[f"{name}.weight"] = (out_f, in_f)
    if bias:
        d[f"{name}.bias"] = (out_f,)


def _norm(d, name, n):
    d[f"{name}.weight"] = (n,)
    d[f"{name}.bias"] = (n,)


def _conv(d, name, out_c, in_c, k):
    d[f"{name}.weight"] = (out_c, in_c, k, k)
    d[f"{name}.bias"] = (out_c,)


def _require(cfg, cls, key, allowed, default):
    v = cfg.get(key, default)
    if v not in allowed:
        raise SpecError(f"{cls}: unsupported config value {key}={v!r} (supported: {allowed})")
    return v


# ----------------------------------------------------------------------------------------------
# CLIP (transformers)

def _clip_layers(d, prefix, n_layers, hidden, inter):
    for i in range(n_layers):
        p = f"{prefix}.encoder.layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            _linear(d, f"{p}.self_attn.{proj}", hidden, hidden)
        _norm(d, f"{p}.layer_norm1", hidden)
        _linear(d, f"{p}.mlp.fc1", inter, hidden)
        _linear(d, f"{p}.mlp.fc2", hidden, inter)
        _norm(d, f"{p}.layer_norm2", hidden)


def clip_text_spec(cfg):
    h = cfg.get("hidden_size", 512)
    d = {}
    d["text_model.embeddings.token_embedding.weight"] = (cfg.get("vocab_size", 49408), h)
    d["text_model.embeddings.position_embedding.weight"] = (cfg.get("max_position_embeddings", 77), h)
    _clip_layers(d, "text_model", cfg.get("num_hidden_layers", 12), h, cfg.get("intermediate_size", 2048))
    _norm(d, "text_model.final_layer_norm", h)
    d["text_projection.weight"] = (cfg.get("projection_dim", 512), h)
    return d


def clip_vision_spec(cfg):
    h = cfg.get("hidden_size", 768)
    img, patch, ch = cfg.get("image_size", 224), cfg.get("patch_size", 32), cfg.get("num_channels", 3)
    d = {}
    d["vision_model.embeddings.class_embedding"] = (h,)
    d["vision_model.embeddings.patch_embedding.weight"] = (h, ch, patch, patch)
    d["vision_model.embeddings.position_embedding.weight"] = ((img // patch) ** 2 + 1, h)
    _norm(d, "vision_model.pre_layrnorm", h)
    _clip_layers(d, "vision_model", cfg.get("num_hidden_layers", 12), h, cfg.get("intermediate_size", 3072))
    _norm(d, "vision_model.post_layernorm", h)
    d["visual_projection.weight"] = (cfg.get("projection_dim", 512), h)
    return d


# ----------------------------------------------------------------------------------------------
# Prior and text_proj (diffusers)

def prior_spec(cfg):
    cls = "PriorTransformer"
    heads, hd = cfg.get("num_attention_heads", 32), cfg.get("attention_head_dim", 64)
    inner = heads * hd
    emb = cfg.get("embedding_dim", 768)
    n_emb, add = cfg.get("num_embeddings", 77), cfg.get("additional_embeddings", 4)
    ted = cfg.get("time_embed_dim") or inner
    epd = cfg.get("embedding_proj_dim") or emb
    ced = cfg.get("clip_embed_dim") or emb
    norm_in = _require(cfg, cls, "norm_in_type", [None, "layer"], None)
    ep_norm = _require(cfg, cls, "embedding_proj_norm_type", [None, "layer"], None)
    enc = _require(cfg, cls, "encoder_hid_proj_type", [None, "linear"], "linear")
    added = _require(cfg, cls, "added_emb_type", [None, "prd"], "prd")
    d = {}
    _linear(d, "time_embedding.linear_1", ted, inner)
    _linear(d, "time_embedding.linear_2", inner, ted)
    _linear(d, "proj_in", inner, emb)
    if ep_norm == "layer":
        _norm(d, "embedding_proj_norm", epd)
    _linear(d, "embedding_proj", inner, epd)
    if enc == "linear":
        _linear(d, "encoder_hidden_states_proj", inner, emb)
    d["positional_embedding"] = (1, n_emb + add, inner)
    if added == "prd":
        d["prd_embedding"] = (1, 1, inner)
    for i in range(cfg.get("num_layers", 20)):
        p = f"transformer_blocks.{i}"
        _norm(d, f"{p}.norm1", inner)
        for proj in ("to_q", "to_k", "to_v", "to_out.0"):
            _linear(d, f"{p}.attn1.{proj}", inner, inner)
        _norm(d, f"{p}.norm3", inner)
        _linear(d, f"{p}.ff.net.0.proj", 4 * inner, inner)
        _linear(d, f"{p}.ff.net.2", inner, 4 * inner)
    if norm_in == "layer":
        _norm(d, "norm_in", inner)
    _norm(d, "norm_out", inner)
    _linear(d, "proj_to_clip_embeddings", ced, inner)
    d["clip_mean"] = (1, ced)
    d["clip_std"] = (1, ced)
    return d


def text_proj_spec(cfg):
    for k in ("time_embed_dim", "cross_attention_dim"):
        if k not in cfg:
            raise SpecError(f"UnCLIPTextProjModel: config lacks required field {k!r}")
    n, dim = cfg.get("clip_extra_context_tokens", 4), cfg.get("clip_embeddings_dim", 768)
    t, c = cfg["time_embed_dim"], cfg["cross_attention_dim"]
    d = {"learned_classifier_free_guidance_embeddings": (dim,)}
    _linear(d, "embedding_proj", t, dim)
    _linear(d, "clip_image_embeddings_project_to_time_embeddings", t, dim)
    _linear(d, "clip_extra_context_tokens_proj", n * c, dim)
    _linear(d, "encoder_hidden_states_proj", c, dim)
    _norm(d, "text_encoder_hidden_states_norm", c)
    return d


# ----------------------------------------------------------------------------------------------
# UNets (diffusers), Karlo's block types only

def _resnet(d, p, cin, cout, temb, shift):
    _norm(d, f"{p}.norm1", cin)
    _conv(d, f"{p}.conv1", cout, cin, 3)
    if temb is not None:
        _linear(d, f"{p}.time_emb_proj", 2 * cout if shift == "scale_shift" else cout, temb)
    _norm(d, f"{p}.norm2", cout)
    _conv(d, f"{p}.conv2", cout, cout, 3)
    if cin != cout:
        _conv(d, f"{p}.conv_shortcut", cout, cin, 1)


def _added_kv_attn(d, p, c, head_dim, cross):
    inner = (c // head_dim) * head_dim
    _norm(d, f"{p}.group_norm", c)
    _linear(d, f"{p}.to_q", inner, c)
    _linear(d, f"{p}.to_k", inner, c)
    _linear(d, f"{p}.to_v", inner, c)
    _linear(d, f"{p}.add_k_proj", inner, cross)
    _linear(d, f"{p}.add_v_proj", inner, cross)
    _linear(d, f"{p}.to_out.0", c, inner)


def _per_block(cfg, key, n, default):
    v = cfg.get(key, default)
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise SpecError(f"config {key} has {len(v)} entries, expected {n}")
        return list(v)
    return [v] * n


DOWN_TYPES = ("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D")
UP_TYPES = ("ResnetUpsampleBlock2D", "SimpleCrossAttnUpBlock2D")


def _unet_body(d, cfg, cls, temb, shift, cross_dims, head_dims, mid):
    chans = list(cfg["block_out_channels"])
    downs, ups = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    n = len(chans)
    if len(downs) != n or len(ups) != n:
        raise SpecError(f"{cls}: block_out_channels, down_block_types and up_block_types differ in length")
    layers = _per_block(cfg, "layers_per_block", n, 2)
    out_c = chans[0]
    for i, typ in enumerate(downs):
        if typ not in DOWN_TYPES:
            raise SpecError(f"{cls}: unsupported down block type {typ!r} (supported: {DOWN_TYPES})")
        in_c, out_c = out_c, chans[i]
        for j in range(layers[i]):
            _resnet(d, f"down_blocks.{i}.resnets.{j}", in_c if j == 0 else out_c, out_c, temb, shift)
            if typ == "SimpleCrossAttnDownBlock2D":
                _added_kv_attn(d, f"down_blocks.{i}.attentions.{j}", out_c, head_dims[i], cross_dims[i])
        if i != n - 1:
            _resnet(d, f"down_blocks.{i}.downsamplers.0", out_c, out_c, temb, shift)
    c = chans[-1]
    if mid == "UNetMidBlock2DSimpleCrossAttn":
        _resnet(d, "mid_block.resnets.0", c, c, temb, shift)
        _added_kv_attn(d, "mid_block.attentions.0", c, head_dims[-1], cross_dims[-1])
        _resnet(d, "mid_block.resnets.1", c, c, temb, shift)
    elif mid == "UNetMidBlock2D":  # add_attention must be False (checked by the caller)
        _resnet(d, "mid_block.resnets.0", c, c, temb, shift)
        _resnet(d, "mid_block.resnets.1", c, c, temb, shift)
    elif mid is not None:
        raise SpecError(f"{cls}: unsupported mid_block_type {mid!r}")
    rev = list(reversed(chans))
    rev_layers, rev_cross = list(reversed(layers)), list(reversed(cross_dims))
    out_c = rev[0]
    for i, typ in enumerate(ups):
        if typ not in UP_TYPES:
            raise SpecError(f"{cls}: unsupported up block type {typ!r} (supported: {UP_TYPES})")
        prev_c, out_c, in_c = out_c, rev[i], rev[min(i + 1, n - 1)]
        nl = rev_layers[i] + 1
        for j in range(nl):
            skip = in_c if j == nl - 1 else out_c
            rin = prev_c if j == 0 else out_c
            _resnet(d, f"up_blocks.{i}.resnets.{j}", rin + skip, out_c, temb, shift)
            if typ == "SimpleCrossAttnUpBlock2D":
                # diffusers passes attention_head_dim[i] (NOT reversed) to up block i
                _added_kv_attn(d, f"up_blocks.{i}.attentions.{j}", out_c, head_dims[i], rev_cross[i])
        if i != n - 1:
            _resnet(d, f"up_blocks.{i}.upsamplers.0", out_c, out_c, temb, shift)


def unet_cond_spec(cfg):
    cls = "UNet2DConditionModel"
    defaults = {"center_input_sample": [False], "time_embedding_type": ["positional"],
                "time_cond_proj_dim": [None], "timestep_post_act": [None], "encoder_hid_dim": [None],
                "encoder_hid_dim_type": [None], "addition_embed_type": [None], "only_cross_attention": [False],
                "mid_block_only_cross_attention": [None, False], "cross_attention_norm": [None],
                "class_embeddings_concat": [False], "attention_type": ["default"],
                "dual_cross_attention": [False], "num_attention_heads": [None],
                "resnet_skip_time_act": [False], "num_class_embeds": [None]}
    for k, allowed in defaults.items():
        _require(cfg, cls, k, allowed, allowed[0])
    _require(cfg, cls, "class_embed_type", [None, "identity"], None)
    shift = _require(cfg, cls, "resnet_time_scale_shift", ["default", "scale_shift"], "default")
    if cfg.get("norm_num_groups", 32) is None:
        raise SpecError(f"{cls}: norm_num_groups=None is not supported")
    chans = list(cfg["block_out_channels"])
    n = len(chans)
    ted = cfg.get("time_embedding_dim") or chans[0] * 4
    d = {}
    k_in, k_out = cfg.get("conv_in_kernel", 3), cfg.get("conv_out_kernel", 3)
    _conv(d, "conv_in", chans[0], cfg.get("in_channels", 4), k_in)
    _linear(d, "time_embedding.linear_1", ted, chans[0])
    _linear(d, "time_embedding.linear_2", ted, ted)
    cross = _per_block(cfg, "cross_attention_dim", n, 1280)
    heads = _per_block(cfg, "attention_head_dim", n, 8)
    heads = [h if h is not None else chans[i] for i, h in enumerate(heads)]
    _unet_body(d, cfg, cls, ted, shift, cross, heads, cfg.get("mid_block_type", "UNetMidBlock2DCrossAttn"))
    _norm(d, "conv_norm_out", chans[0])
    _conv(d, "conv_out", cfg.get("out_channels", 4), chans[0], k_out)
    return d


def unet_2d_spec(cfg):
    cls = "UNet2DModel"
    _require(cfg, cls, "time_embedding_type", ["positional"], "positional")
    _require(cfg, cls, "class_embed_type", [None, "identity"], None)
    _require(cfg, cls, "num_class_embeds", [None], None)
    _require(cfg, cls, "add_attention", [False], True)
    shift = _require(cfg, cls, "resnet_time_scale_shift", ["default", "scale_shift"], "default")
    chans = list(cfg["block_out_channels"])
    n = len(chans)
    ted = cfg.get("time_embedding_dim") or chans[0] * 4
    d = {}
    _conv(d, "conv_in", chans[0], cfg.get("in_channels", 3), 3)
    _linear(d, "time_embedding.linear_1", ted, chans[0])
    _linear(d, "time_embedding.linear_2", ted, ted)
    mid = cfg.get("mid_block_type", "UNetMidBlock2D")
    if mid not in ("UNetMidBlock2D", None):
        raise SpecError(f"{cls}: unsupported mid_block_type {mid!r}")
    _unet_body(d, cfg, cls, ted, shift, [None] * n, [None] * n, mid)
    _norm(d, "conv_norm_out", chans[0])
    _conv(d, "conv_out", cfg.get("out_channels", 3), chans[0], 3)
    return d


SPECS = {
    "CLIPTextModelWithProjection": clip_text_spec,
    "CLIPVisionModelWithProjection": clip_vision_spec,
    "PriorTransformer": prior_spec,
    "UnCLIPTextProjModel": text_proj_spec,
    "UNet2DConditionModel": unet_cond_spec,
    "UNet2DModel": unet_2d_spec,
}

# Non-parameter buffers that older library versions serialised; the converter drops them.
IGNORED_BUFFERS = {
    "CLIPTextModelWithProjection": ("text_model.embeddings.position_ids",),
    "CLIPVisionModelWithProjection": ("vision_model.embeddings.position_ids",),
    "PriorTransformer": ("causal_attention_mask",),
}


def spec_for(class_name: str, cfg: dict) -> dict:
    if class_name not in SPECS:
        raise SpecError(f"no spec for class {class_name!r} (known: {sorted(SPECS)})")
    try:
        return SPECS[class_name](cfg)
    except KeyError as e:
        raise SpecError(f"{class_name}: config lacks required field {e.args[0]!r}") from None


def param_count(spec: dict) -> int:
    total = 0
    for shape in spec.values():
        n = 1
        for s in shape:
            n *= s
        total += n
    return total
