"""CLIP BPE tokenizer files: build them from OpenAI's merges, and read a tokenizer/ folder.

Mirrors openai/CLIP clip/simple_tokenizer.py (vocabulary construction: merges = lines[1:49152-256-2+1];
vocab = 256 byte chars, the same with "</w>", the joined merges, <|startoftext|>, <|endoftext|>) and
transformers' CLIPTokenizer file layout (vocab.json, merges.txt with a "#version: 0.2" first line).
The merges come from open_clip's data file bpe_simple_vocab_16e6.txt.gz, read with gzip; open_clip is
never imported. Pure Python, no torch. Not a command-line tool.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import os

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
KARLO_PAD = "!"
MAX_LEN = 77


class TokenizerError(Exception):
    pass


def bytes_to_unicode() -> dict:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def find_bpe_file() -> str:
    env = os.environ.get("UNCLIP_BPE_PATH")
    if env:
        return env
    spec = importlib.util.find_spec("open_clip")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerError("cannot find open_clip's bpe_simple_vocab_16e6.txt.gz "
                             "(install open_clip_torch --no-deps or set UNCLIP_BPE_PATH)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "bpe_simple_vocab_16e6.txt.gz")
    if not os.path.exists(path):
        raise TokenizerError(f"missing {path}")
    return path


def build_vocab_merges(bpe_path: str | None = None) -> tuple[dict, list]:
    """Returns (vocab token->id, merges as list of 'a b' strings), exactly as OpenAI/HF CLIP."""
    with gzip.open(bpe_path or find_bpe_file(), "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += [BOS, EOS]
    if len(vocab) != 49408 or len(set(vocab)) != 49408:
        raise TokenizerError(f"unexpected vocabulary size {len(vocab)}")
    return {t: i for i, t in enumerate(vocab)}, [" ".join(m) for m in merges]


def vocab_json_text(vocab: dict) -> str:
    # transformers' CLIPTokenizer.save_vocabulary format
    return json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def merges_text(merges: list) -> str:
    return "#version: 0.2\n" + "".join(m + "\n" for m in merges)


def _added(content):
    return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
            "rstrip": False, "single_word": False}


def write_tokenizer_folder(path: str, bpe_path: str | None = None) -> None:
    """Writes a Karlo-style tokenizer/ folder (vocab.json, merges.txt, tokenizer_config.json,
    special_tokens_map.json) with pad_token "!" (id 0)."""
    vocab, merges = build_vocab_merges(bpe_path)
    os.makedirs(path, exist_ok=True)
    files = {
        "vocab.json": vocab_json_text(vocab),
        "merges.txt": merges_text(merges),
        "special_tokens_map.json": json.dumps(
            {"bos_token": BOS, "eos_token": EOS, "pad_token": KARLO_PAD, "unk_token": EOS}, indent=2) + "\n",
        "tokenizer_config.json": json.dumps({
            "add_prefix_space": False, "bos_token": _added(BOS), "do_lower_case": True,
            "eos_token": _added(EOS), "errors": "replace", "model_max_length": MAX_LEN,
            "pad_token": KARLO_PAD, "tokenizer_class": "CLIPTokenizer", "unk_token": _added(EOS)},
            indent=2, sort_keys=True) + "\n",
    }
    for name, text in files.items():
        with open(os.path.join(path, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def _token_str(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def read_tokenizer_folder(path: str) -> dict:
    """Returns the metadata entries tokenizer.vocab / tokenizer.merges / tokenizer.config (FORMAT.md)."""
    if not os.path.isdir(path):
        raise TokenizerError(f"missing component folder {path}")

    def load_json(name):
        p = os.path.join(path, name)
        if not os.path.exists(p):
            return None
        try:
            with open(p, encoding="utf-8") as f:
                return json.load(f)
        except json.JSONDecodeError as e:
            raise TokenizerError(f"tokenizer/{name}: invalid JSON: {e}") from None

    vpath, mpath = os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt")
    if os.path.exists(vpath) and os.path.exists(mpath):
        vocab = load_json("vocab.json")
        with open(mpath, encoding="utf-8") as f:
            merges = f.read()
    elif os.path.exists(os.path.join(path, "tokenizer.json")):
        tj = load_json("tokenizer.json")
        model = tj.get("model", {})
        if model.get("type") != "BPE":
            raise TokenizerError("tokenizer/tokenizer.json: model type is not BPE")
        vocab = model["vocab"]
        ms = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        merges = merges_text(ms)
    else:
        raise TokenizerError("tokenizer/: need vocab.json + merges.txt, or tokenizer.json")
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerError("tokenizer/: vocabulary is empty or not an object")
    if not merges.startswith("#version"):
        merges = "#version: 0.2\n" + merges
    cfg = load_json("tokenizer_config.json") or {}
    smap = load_json("special_tokens_map.json") or {}
    tok = {}
    for k, default in (("bos_token", BOS), ("eos_token", EOS), ("pad_token", EOS), ("unk_token", EOS)):
        tok[k] = _token_str(smap.get(k, cfg.get(k, default)))
        if tok[k] not in vocab:
            raise TokenizerError(f"tokenizer/: {k} {tok[k]!r} is not in the vocabulary")
    max_len = cfg.get("model_max_length", MAX_LEN)
    if not isinstance(max_len, int) or max_len > 10**6:
        max_len = MAX_LEN
    tok["model_max_length"] = max_len
    tok["pad_token_id"] = vocab[tok["pad_token"]]
    tok["do_lower_case"] = bool(cfg.get("do_lower_case", True))
    ordered = dict(sorted(vocab.items(), key=lambda kv: kv[1]))  # id order, whatever the source order
    return {
        "tokenizer.vocab": json.dumps(ordered, ensure_ascii=False, separators=(",", ":")),
        "tokenizer.merges": merges,
        "tokenizer.config": json.dumps(tok, sort_keys=True),
    }
