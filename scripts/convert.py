#!/usr/bin/env python3
"""Convert a diffusers unCLIP folder (kakaobrain/karlo-v1-alpha layout) into one unclip weights file.

Reference: the folder layout written by diffusers' UnCLIPPipeline / UnCLIPImageVariationPipeline
save_pretrained (diffusers 0.42.1, pipelines/deprecated/unclip) and by
scripts/convert_kakao_brain_unclip_to_diffusers.py; output format: weights/FORMAT.md.

Usage:
  python scripts/convert.py SRC_FOLDER OUT.safetensors [--dtype f32|f16|bf16] [--variant fp16]
                            [--verify-with-torch]

SRC holds model_index.json, one folder per component with config.json + weights (*.safetensors or
*.bin, sharded or not), tokenizer/ (vocab.json + merges.txt, or tokenizer.json) and the
*_scheduler/scheduler_config.json files. Configs and tensors are read directly (no
DiffusionPipeline.from_pretrained). Every component's keys and shapes are checked against a pure-Python
spec derived from its config (scripts/unclip_spec.py); any missing component, missing/unexpected key or
wrong shape is an error and no output file is written. Components are streamed one tensor at a time, so
peak memory stays far below the model size. Torch is needed only for *.bin inputs and --verify-with-torch.
Errors go to stderr as "error: ..." with exit status 1.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from unclip_configs import MODEL_COMPONENTS, SCHEDULERS  # noqa: E402
from unclip_format import FORMAT_NAME, FORMAT_VERSION, MODEL_DTYPES, Entry, FormatError, cast, write_file  # noqa: E402
from unclip_sources import SourceError, WeightSource, find_weights  # noqa: E402
from unclip_spec import IGNORED_BUFFERS, SpecError, spec_for  # noqa: E402
from unclip_tokenizer import TokenizerError, read_tokenizer_folder  # noqa: E402

CONVERTER_VERSION = "1"
PIPELINES = {
    "UnCLIPPipeline": ("text_encoder", "prior", "text_proj", "decoder", "super_res_first", "super_res_last"),
    "UnCLIPImageVariationPipeline": ("text_encoder", "image_encoder", "text_proj", "decoder",
                                     "super_res_first", "super_res_last"),
}
OPTIONAL = {"UnCLIPPipeline": ("image_encoder", "feature_extractor"),
            "UnCLIPImageVariationPipeline": ("prior", "prior_scheduler")}
PIPELINE_SCHEDULERS = {"UnCLIPPipeline": SCHEDULERS,
                       "UnCLIPImageVariationPipeline": ("decoder_scheduler", "super_res_scheduler")}
EXPECTED_CLASS = {
    "text_encoder": "CLIPTextModelWithProjection", "image_encoder": "CLIPVisionModelWithProjection",
    "prior": "PriorTransformer", "text_proj": "UnCLIPTextProjModel", "decoder": "UNet2DConditionModel",
    "super_res_first": "UNet2DModel", "super_res_last": "UNet2DModel",
}
DTYPE_ARG = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
MAX_LISTED = 8


class ConvertError(Exception):
    pass


def _read_json_text(path: str, what: str) -> tuple[str, dict]:
    if not os.path.isfile(path):
        shown = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
        raise ConvertError(f"{what}: missing {shown}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConvertError(f"{what}: {os.path.basename(path)} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ConvertError(f"{what}: {os.path.basename(path)} is not a JSON object")
    return text, obj


def _listing(items) -> str:
    items = sorted(items)
    more = f" (and {len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
    return ", ".join(repr(i) for i in items[:MAX_LISTED]) + more


class Component:
    """One validated model component: config text, class, source and output entries."""

    def __init__(self, src: str, name: str, variant: str | None):
        self.name = name
        folder = os.path.join(src, name)
        if not os.path.isdir(folder):
            raise ConvertError(f"component {name!r}: missing folder {name}/")
        self.config_text, cfg = _read_json_text(os.path.join(folder, "config.json"), f"component {name!r}")
        self.config = cfg
        want = EXPECTED_CLASS[name]
        got = cfg.get("_class_name") or (cfg.get("architectures") or [None])[0] or want
        if got != want:
            raise ConvertError(f"component {name!r}: config says class {got!r}, expected {want!r}")
        self.class_name = want
        try:
            self.spec = spec_for(want, cfg)
        except SpecError as e:
            raise ConvertError(f"component {name!r}: {e}") from None
        try:
            self.source = WeightSource(find_weights(folder, variant))
        except SourceError as e:
            raise ConvertError(f"component {name!r}: {e}") from None
        self._validate()

    def _validate(self):
        ignored = set(IGNORED_BUFFERS.get(self.class_name, ()))
        keys = set(self.source.keys()) - ignored
        missing, unexpected = set(self.spec) - keys, keys - set(self.spec)
        if missing:
            raise ConvertError(f"component {self.name!r}: missing key(s) {_listing(missing)}")
        if unexpected:
            raise ConvertError(f"component {self.name!r}: unexpected key(s) {_listing(unexpected)}")
        bad = []
        for k in sorted(keys):
            dtype, shape = self.source.info(k)
            if tuple(shape) != tuple(self.spec[k]):
                bad.append(f"{k!r} has shape {list(shape)}, config implies {list(self.spec[k])}")
            elif dtype not in ("F32", "F16", "BF16", "F64"):
                bad.append(f"{k!r} has non-floating dtype {dtype}")
        if bad:
            more = f" (and {len(bad) - MAX_LISTED} more)" if len(bad) > MAX_LISTED else ""
            raise ConvertError(f"component {self.name!r}: " + "; ".join(bad[:MAX_LISTED]) + more)
        self.keys = sorted(keys)

    def entries(self, dtype: str | None) -> list[Entry]:
        out = []
        for k in self.keys:
            src_dtype, shape = self.source.info(k)
            dst = dtype or (src_dtype if src_dtype in MODEL_DTYPES else "F32")
            out.append(Entry(f"{self.name}.{k}", dst, tuple(shape),
                             lambda k=k, s=src_dtype, d=dst: cast(self.source.array(k), s, d),
                             lambda k=k: self.source.release(k)))
        return out

    def verify_with_torch(self):
        from unclip_torch import meta_spec
        real = meta_spec(self.class_name, self.config)
        for k in IGNORED_BUFFERS.get(self.class_name, ()):
            real.pop(k, None)
        if real != self.spec:
            diff = sorted(set(real) ^ set(self.spec)) or [k for k in real if real[k] != self.spec[k]]
            raise ConvertError(f"component {self.name!r}: pure-Python spec disagrees with the "
                               f"{self.class_name} class at {_listing(diff)}")


# The model's recommended sampling settings (optional FOLDER/sampling_defaults.json, not a diffusers file): the
# keyword arguments of UnCLIPPipeline.__call__ they set, and the smallest value each may take.
SAMPLING_DEFAULTS = {"prior_num_inference_steps": 1, "decoder_num_inference_steps": 1,
                     "super_res_num_inference_steps": 1, "prior_guidance_scale": 0.0, "decoder_guidance_scale": 0.0}


def _sampling_defaults(src: str) -> str | None:
    """FOLDER/sampling_defaults.json checked (known keys, integer steps, finite numbers) -> canonical JSON text."""
    path = os.path.join(src, "sampling_defaults.json")
    if not os.path.exists(path):
        return None
    _, obj = _read_json_text(path, "sampling defaults")
    for k, v in obj.items():
        if k not in SAMPLING_DEFAULTS:
            raise ConvertError(f"sampling_defaults.json: unknown key {k!r} (known: {sorted(SAMPLING_DEFAULTS)})")
        steps = k.endswith("_steps")
        ok = (isinstance(v, int) if steps else isinstance(v, (int, float))) and not isinstance(v, bool)
        if not ok or not math.isfinite(v) or v < SAMPLING_DEFAULTS[k] or (steps and v > 1000):
            raise ConvertError(f"sampling_defaults.json: {k} must be "
                               f"{'an integer 1...1000' if steps else 'a number >= 0'}, got {v!r}")
    return json.dumps(obj, sort_keys=True)


def _listed(index: dict, comp: str) -> bool:
    v = index.get(comp)
    return isinstance(v, list) and len(v) == 2 and v[0] is not None


def gather(src: str, variant: str | None = None) -> tuple[list[Component], dict]:
    """Validate the whole folder; returns the components and the metadata."""
    if not os.path.isdir(src):
        raise ConvertError(f"source folder {src} does not exist")
    _, index = _read_json_text(os.path.join(src, "model_index.json"), "pipeline")
    pipeline = index.get("_class_name")
    if pipeline not in PIPELINES:
        raise ConvertError(f"model_index.json: unsupported pipeline class {pipeline!r} "
                           f"(supported: {sorted(PIPELINES)})")
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "pipeline": pipeline}
    required = list(PIPELINES[pipeline]) + list(PIPELINE_SCHEDULERS[pipeline]) + ["tokenizer"]
    if pipeline == "UnCLIPImageVariationPipeline":
        required.append("feature_extractor")
    absent = [c for c in required if not _listed(index, c)]
    if absent:
        raise ConvertError(f"model_index.json: missing component(s) {_listing(absent)}")
    # the other pipeline's extra components may ride along (FORMAT.md: combined files)
    extra = [c for c in OPTIONAL[pipeline] if _listed(index, c)]
    if extra and len(extra) != len(OPTIONAL[pipeline]):
        raise ConvertError(f"model_index.json: optional components {list(OPTIONAL[pipeline])} must be "
                           f"listed together (found only {extra})")
    wanted = set(required) | set(extra)
    for s in SCHEDULERS:
        if s not in wanted:
            continue
        text, cfg = _read_json_text(os.path.join(src, s, "scheduler_config.json"), f"component {s!r}")
        if cfg.get("_class_name") != "UnCLIPScheduler":
            raise ConvertError(f"component {s!r}: scheduler class {cfg.get('_class_name')!r}, "
                               f"expected 'UnCLIPScheduler'")
        meta[f"{s}.config"] = text
    try:
        meta.update(read_tokenizer_folder(os.path.join(src, "tokenizer")))
    except TokenizerError as e:
        raise ConvertError(f"component 'tokenizer': {e}") from None
    defaults = _sampling_defaults(src)
    if defaults is not None:
        meta["sampling_defaults"] = defaults
    if "feature_extractor" in wanted:
        text, _ = _read_json_text(os.path.join(src, "feature_extractor", "preprocessor_config.json"),
                                  "component 'feature_extractor'")
        meta["feature_extractor.config"] = text
    comps = []
    try:
        for name in MODEL_COMPONENTS:
            if name in wanted:
                comps.append(Component(src, name, variant))
    except BaseException:
        for c in comps:
            c.source.close()
        raise
    for c in comps:
        meta[f"{c.name}.config"] = c.config_text
        meta[f"{c.name}.class"] = c.class_name
    meta["components"] = ",".join(c.name for c in comps)
    return comps, meta


def convert(src: str, dst: str, dtype: str | None = None, variant: str | None = None,
            verify_with_torch: bool = False, quiet: bool = False) -> int:
    src = os.path.abspath(src)
    comps, meta = gather(src, variant)
    try:
        if verify_with_torch:
            for c in comps:
                c.verify_with_torch()
        meta["source"] = (f"scripts/convert.py v{CONVERTER_VERSION} from folder "
                          f"{os.path.basename(src.rstrip(os.sep))!r}, dtype {dtype or 'as source'}")
        entries = [e for c in comps for e in c.entries(dtype)]
        t0 = time.time()
        size = write_file(dst, entries, meta)
        if not quiet:
            print(f"wrote {dst}: {len(entries)} tensors, {size / 1e6:.1f} MB in {time.time() - t0:.1f}s "
                  f"({', '.join(c.name for c in comps)})")
        return size
    finally:
        for c in comps:
            c.source.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--dtype", choices=sorted(DTYPE_ARG), help="cast floating tensors (default: keep source dtype)")
    ap.add_argument("--variant", help="read weight files with this variant suffix, e.g. fp16")
    ap.add_argument("--verify-with-torch", action="store_true",
                    help="also compare the specs with the real classes instantiated on the meta device")
    args = ap.parse_args(argv)
    try:
        convert(args.src, args.dst, DTYPE_ARG.get(args.dtype), args.variant, args.verify_with_torch)
    except (ConvertError, FormatError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
