"""Weight sources of one diffusers/transformers component folder (single, sharded, .safetensors or .bin).

Mirrors the file-name conventions of diffusers (diffusion_pytorch_model[.variant].safetensors / .bin,
with *.index.json for shards) and transformers (model[.variant].safetensors, pytorch_model[.variant].bin,
*.index.json). safetensors files are read with unclip_format (pure numpy, memory-mapped); torch is
imported only for *.bin files. Used by scripts/convert.py. Not a command-line tool.
"""
from __future__ import annotations

import json
import os

import numpy as np

from unclip_format import FormatError, SafeFile

BASES = ("diffusion_pytorch_model", "model", "pytorch_model")


class SourceError(Exception):
    pass


def find_weights(folder: str, variant: str | None) -> str:
    """Pick the weights file like diffusers does: safetensors before .bin, unsharded before sharded."""
    v = f".{variant}" if variant else ""
    for ext in (".safetensors", ".bin"):
        for base in BASES:
            for cand in (f"{base}{v}{ext}", f"{base}{v}{ext}.index.json"):
                if os.path.isfile(os.path.join(folder, cand)):
                    return os.path.join(folder, cand)
    present = sorted(f for f in os.listdir(folder) if f.endswith((".safetensors", ".bin", ".json")))
    raise SourceError(f"no weights file{' for variant ' + variant if variant else ''} "
                      f"(files present: {present})")


class WeightSource:
    """key -> (dtype name, shape) and key -> numpy array (BF16 as uint16 bits)."""

    def __init__(self, path: str):
        self.path = path
        self._files: list[SafeFile] = []
        self._where: dict = {}  # key -> SafeFile or ("bin", tensor)
        shards = [path]
        if path.endswith(".index.json"):
            try:
                with open(path, encoding="utf-8") as f:
                    wmap = json.load(f)["weight_map"]
            except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
                raise SourceError(f"{os.path.basename(path)}: unreadable shard index: {e}") from None
            shards = sorted({os.path.join(os.path.dirname(path), v) for v in wmap.values()})
            for s in shards:
                if not os.path.isfile(s):
                    raise SourceError(f"shard {os.path.basename(s)} listed in {os.path.basename(path)} is missing")
        for s in shards:
            if s.endswith(".safetensors"):
                try:
                    sf = SafeFile(s)
                except FormatError as e:
                    raise SourceError(str(e)) from None
                self._files.append(sf)
                for k in sf.keys():
                    self._add(k, sf, s)
            else:
                from unclip_torch import load_bin  # torch only for .bin
                try:
                    sd = load_bin(s)
                except Exception as e:  # noqa: BLE001 - torch raises many types
                    raise SourceError(f"{os.path.basename(s)}: cannot load: {e}") from None
                for k, t in sd.items():
                    self._add(k, ("bin", t), s)
        if path.endswith(".index.json"):
            missing = sorted(set(wmap) - set(self._where))
            if missing:
                raise SourceError(f"{os.path.basename(path)} lists keys absent from the shards: {missing[:5]}")

    def _add(self, key, where, fname):
        if key in self._where:
            raise SourceError(f"key {key!r} appears twice (again in {os.path.basename(fname)})")
        self._where[key] = where

    def keys(self):
        return list(self._where)

    def info(self, key) -> tuple[str, tuple]:
        w = self._where[key]
        if isinstance(w, SafeFile):
            t = w.tensors[key]
            return t.dtype, t.shape
        from unclip_torch import TORCH_TO_NAME
        t = w[1]
        return TORCH_TO_NAME.get(t.dtype, str(t.dtype)), tuple(t.shape)

    def array(self, key) -> np.ndarray:
        w = self._where[key]
        if isinstance(w, SafeFile):
            return w.array(key)
        from unclip_torch import to_numpy
        return to_numpy(w[1])[1]

    def release(self, key) -> None:
        w = self._where[key]
        if isinstance(w, SafeFile):
            w.release(key)

    def close(self):
        for f in self._files:
            try:
                f.close()
            except BufferError:
                pass  # a view is still alive; the mapping is released when it is collected
        self._files = []
        self._where = {}
