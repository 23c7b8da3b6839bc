"""Reader/writer helpers for the unclip weights file (weights/FORMAT.md, format version 1).

Mirrors the safetensors container layout (https://github.com/huggingface/safetensors): 8-byte
little-endian header length N, N bytes of JSON (padded with spaces to a multiple of 8), then the raw
little-endian data buffer. Pure Python + numpy: no torch needed. BF16 has no numpy dtype, so BF16
tensors travel as raw uint16 arrays (the bit pattern) and are converted with the helpers below.

Used by scripts/convert.py, scripts/make_fixtures.py, scripts/make_random_weights.py and
scripts/tests/test_convert.py. Not a command-line tool.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

FORMAT_NAME = "unclip"
FORMAT_VERSION = "1"
MAX_HEADER = 100 * 1024 * 1024

# dtype name -> (itemsize, numpy dtype used to carry the bits)
DTYPES = {
    "F64": (8, np.dtype("<f8")),
    "I64": (8, np.dtype("<i8")),
    "F32": (4, np.dtype("<f4")),
    "I32": (4, np.dtype("<i4")),
    "F16": (2, np.dtype("<f2")),
    "BF16": (2, np.dtype("<u2")),  # raw bit pattern
    "I16": (2, np.dtype("<i2")),
    "U8": (1, np.dtype("u1")),
    "I8": (1, np.dtype("i1")),
    "BOOL": (1, np.dtype("u1")),
}
MODEL_DTYPES = ("F32", "F16", "BF16")
AUX_DTYPES = ("I64", "I32", "U8")
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
NP_TO_NAME = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64",
              np.dtype("<i4"): "I32", np.dtype("u1"): "U8", np.dtype("<f8"): "F64"}


class FormatError(Exception):
    """A file or a tensor violates the format; the message names the offending item."""


def itemsize(dtype: str) -> int:
    if dtype not in DTYPES:
        raise FormatError(f"unknown dtype {dtype!r}")
    return DTYPES[dtype][0]


def numel(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# ----------------------------------------------------------------------------------------------
# dtype conversions (bit-exact with torch's CPU casts)

def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit pattern, round to nearest even, NaN -> 0x7FC0 (as c10::BFloat16)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(a), np.uint16(0x7FC0), rounded)


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (np.ascontiguousarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def to_f32(arr: np.ndarray, dtype: str) -> np.ndarray:
    """Array as carried by the reader (BF16 as uint16 bits) -> float32."""
    if dtype == "BF16":
        return bf16_bits_to_f32(arr)
    return np.asarray(arr, dtype=np.float32)


def cast(arr: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Cast a floating tensor between F32/F16/BF16 (BF16 carried as uint16 bits)."""
    if src == dst:
        return arr
    if src not in FLOAT_DTYPES or dst not in FLOAT_DTYPES:
        raise FormatError(f"cannot cast {src} to {dst}")
    f = to_f32(arr, src) if src != "F64" else np.asarray(arr, dtype=np.float64)
    if dst == "BF16":
        return f32_to_bf16_bits(np.asarray(f, dtype=np.float32))
    return np.asarray(f, dtype=DTYPES[dst][1])


# ----------------------------------------------------------------------------------------------
# reading

@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: tuple
    begin: int
    end: int


class SafeFile:
    """A validated, memory-mapped safetensors/unclip file. Use as a context manager."""

    def __init__(self, path: str, allowed_dtypes: Iterable[str] | None = None, strict: bool = True):
        self.path = path
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise FormatError(f"{path}: file shorter than 8 bytes")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER:
                raise FormatError(f"{path}: header length {n} exceeds 100 MiB")
            if 8 + n > size:
                raise FormatError(f"{path}: header length {n} runs past the end of the file ({size} bytes)")
            raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FormatError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
        if not isinstance(header, dict):
            raise FormatError(f"{path}: header is not a JSON object")
        self.data_start = 8 + n
        self.data_len = size - self.data_start
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in meta.items()):
            raise FormatError(f"{path}: __metadata__ must map strings to strings")
        self.metadata: dict = meta
        allowed = set(allowed_dtypes) if allowed_dtypes is not None else set(DTYPES)
        self.tensors: dict[str, TensorInfo] = {}
        for name, info in header.items():
            self.tensors[name] = self._check_entry(name, info, allowed)
        if strict:
            spans = sorted((t.begin, t.end, t.name) for t in self.tensors.values())
            pos = 0
            for b, e, nm in spans:
                if b < pos:
                    raise FormatError(f"{path}: tensor {nm!r} overlaps another tensor")
                if b > pos:
                    raise FormatError(f"{path}: hole in the data buffer before tensor {nm!r}")
                pos = e
            if pos != self.data_len:
                raise FormatError(f"{path}: {self.data_len - pos} trailing bytes after the last tensor")
        self._file = open(path, "rb")
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size > 0 else None

    def _check_entry(self, name, info, allowed) -> TensorInfo:
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise FormatError(f"{where}: entry is not an object")
        dtype = info.get("dtype")
        if dtype not in DTYPES:
            raise FormatError(f"{where}: unknown dtype {dtype!r}")
        if dtype not in allowed:
            raise FormatError(f"{where}: dtype {dtype} not allowed here (allowed: {sorted(allowed)})")
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                 for d in shape):
            raise FormatError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
        offs = info.get("data_offsets")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
            raise FormatError(f"{where}: data_offsets must be [begin, end]")
        b, e = offs
        if not (0 <= b <= e <= self.data_len):
            raise FormatError(f"{where}: data_offsets {offs} outside the data buffer ({self.data_len} bytes)")
        if e - b != numel(shape) * itemsize(dtype):
            raise FormatError(f"{where}: {e - b} bytes but shape {shape} x {dtype} needs "
                              f"{numel(shape) * itemsize(dtype)}")
        return TensorInfo(name, dtype, tuple(shape), b, e)

    def keys(self):
        return list(self.tensors)

    def raw(self, name: str) -> memoryview:
        t = self.tensors[name]
        if t.end == t.begin:
            return memoryview(b"")
        return memoryview(self._mm)[self.data_start + t.begin: self.data_start + t.end]

    def array(self, name: str) -> np.ndarray:
        """Read-only numpy view (BF16 as uint16 bits, BOOL as uint8)."""
        t = self.tensors[name]
        return np.frombuffer(self.raw(name), dtype=DTYPES[t.dtype][1]).reshape(t.shape)

    def release(self, name: str) -> None:
        """Drop the tensor's pages from this process (keeps RSS low while streaming big files)."""
        t = self.tensors[name]
        if self._mm is None or t.end == t.begin or not hasattr(self._mm, "madvise"):
            return
        page = mmap.PAGESIZE
        start = (self.data_start + t.begin) // page * page
        end = min(len(self._mm), -(-(self.data_start + t.end) // page) * page)
        try:
            self._mm.madvise(mmap.MADV_DONTNEED, start, end - start)
        except (OSError, AttributeError, ValueError):
            pass

    def close(self):
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------
# writing

@dataclass
class Entry:
    """One tensor to write: `produce()` returns an array whose bytes are the tensor's data."""
    name: str
    dtype: str
    shape: tuple
    produce: Callable[[], np.ndarray]
    release: Callable[[], None] | None = None  # called after the data is written


def array_entry(name: str, arr: np.ndarray, dtype: str | None = None) -> Entry:
    arr = np.ascontiguousarray(arr)
    if dtype is None:
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8)
        dtype = NP_TO_NAME.get(arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype)
        if dtype is None:
            raise FormatError(f"tensor {name!r}: unsupported numpy dtype {arr.dtype}")
    return Entry(name, dtype, tuple(int(d) for d in arr.shape), lambda a=arr: a)


def write_file(path: str, entries: list[Entry], metadata: dict | None = None,
               progress: Callable[[str], None] | None = None) -> int:
    """Write entries in (itemsize desc, name) order to path + ".tmp", then rename to path.

    Data is produced and written one tensor at a time, so memory stays at one tensor.
    Returns the file size. On any error the temporary file is removed and nothing is left at path.
    """
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise FormatError(f"duplicate tensor names: {dup[:5]}")
    order = sorted(entries, key=lambda e: (-itemsize(e.dtype), e.name))
    header: dict = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise FormatError(f"metadata {k!r}: keys and values must be strings")
        header["__metadata__"] = dict(sorted(metadata.items()))
    pos = 0
    for e in order:
        n = numel(e.shape) * itemsize(e.dtype)
        header[e.name] = {"dtype": e.dtype, "shape": list(e.shape), "data_offsets": [pos, pos + n]}
        pos += n
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    if len(hjson) > MAX_HEADER:
        raise FormatError(f"header of {len(hjson)} bytes exceeds 100 MiB")
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for e in order:
                arr = e.produce()
                want = numel(e.shape) * itemsize(e.dtype)
                buf = memoryview(np.ascontiguousarray(arr)).cast("B")
                if buf.nbytes != want:
                    raise FormatError(f"tensor {e.name!r}: produced {buf.nbytes} bytes, expected {want}")
                f.write(buf)
                del arr, buf
                if e.release:
                    e.release()
                if progress:
                    progress(e.name)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return 8 + len(hjson) + pos


def read_all(path: str, as_f32: bool = False) -> tuple[dict, dict]:
    """Load every tensor (copies) and the metadata. For small files (fixtures, tests)."""
    with SafeFile(path) as sf:
        out = {}
        for k, t in sf.tensors.items():
            a = np.array(sf.array(k))
            out[k] = to_f32(a, t.dtype) if as_f32 and t.dtype in ("BF16", "F16") else a
        return out, dict(sf.metadata)
