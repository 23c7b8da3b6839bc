"""Tests for the built-in model's dataset generator and colour classifier (scripts/shapes_dataset.py,
scripts/builtin_eval.py), runnable without torch (numpy + Pillow).
Run:  python -m pytest -q scripts/tests
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SCRIPTS)

import builtin_eval  # noqa: E402
import shapes_dataset as ds  # noqa: E402


def test_samples_are_deterministic_in_seed_and_index():
    a = [ds.sample_spec(7, i) for i in range(50)]
    assert a == [ds.sample_spec(7, i) for i in range(50)]
    assert a != [ds.sample_spec(8, i) for i in range(50)]
    assert np.array_equal(np.asarray(ds.render(a[3], 64)), np.asarray(ds.render(a[3], 64)))


def test_held_out_pairs_never_appear_in_training_and_only_they_in_the_held_out_split():
    for i in range(3000):
        s = ds.sample_spec(7, i)
        for it in s["items"]:
            assert (it["colour"], s["background"]) not in ds.HELD_OUT, s["caption"]
            assert it["colour"] != s["background"]
    for i in range(300):
        s = ds.sample_spec(7, i, "heldout")
        assert [(it["colour"], s["background"]) in ds.HELD_OUT for it in s["items"]] == [True]


def test_captions_name_what_is_drawn():
    kinds = set()
    for i in range(500):
        s = ds.sample_spec(7, i)
        cap = s["caption"]
        assert s["background"] in cap
        for it in s["items"]:
            assert it["colour"] in cap and it["shape"] in cap, cap
        assert " a orange" not in cap and " a " + "orange" not in cap and not cap.startswith("a orange"), cap
        kinds.add(len(s["items"]))
    assert kinds == {1, 2}
    assert ds.an("orange star") == "an orange star" and ds.an("red circle") == "a red circle"


def test_classifier_reads_rendered_scenes():
    n = 0
    for i in range(200):
        s = ds.sample_spec(3, i)
        if len(s["items"]) != 1:
            continue
        bg, shape = builtin_eval.classify(np.asarray(ds.render(s, 64)))
        assert (bg, shape) == (s["background"], s["items"][0]["colour"]), s["caption"]
        n += 1
    assert n > 100


def test_classifier_reports_missing_shape_and_unknown_colours():
    flat = np.zeros((64, 64, 3), np.uint8) + np.array(ds.COLOURS["blue"], np.uint8)
    assert builtin_eval.classify(flat) == ("blue", None)
    off = np.zeros((64, 64, 3), np.uint8) + np.array([0, 255, 255], np.uint8)  # cyan is not in the palette
    assert builtin_eval.classify(off) == (None, None)


def test_committed_prompt_set_is_what_the_script_writes():
    with open(builtin_eval.PROMPTS_PATH, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["prompts"] == builtin_eval.prompt_set()
    assert doc["palette"] == {k: list(v) for k, v in ds.COLOURS.items()}
    held = [p for p in doc["prompts"] if p["heldout"]]
    assert len(doc["prompts"]) >= 24 and len(held) == len(ds.HELD_OUT)
    assert {(p["colour"], p["background"]) for p in held} == ds.HELD_OUT
    assert doc["prompts"][0]["prompt"] == "a red circle on a blue background"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
