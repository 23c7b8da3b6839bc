#!/usr/bin/env python3
"""PyTorch/diffusers side of `unclip-run bench pipeline`: the same unCLIP generation, timed per stage, on the same weights.

Mirrors diffusers 0.42.1 UnCLIPPipeline.__call__ (pipelines/deprecated/unclip/pipeline_unclip.py), run as is
(fp32, CPU); schedulers other than UnCLIPScheduler are swapped in per stage as in scripts/fixture_e2e.py.

  .venv-ref/bin/python scripts/bench_reference.py FOLDER [--prompt TEXT] [--seed N] [--threads 2]
      [--prior-steps 25] [--decoder-steps 25] [--super-res-steps 7] [--prior-guidance 4] [--decoder-guidance 8]
      [--steps 5,10,25 --schedulers unclip,ddim]  [--json OUT.json] [--csv OUT.csv]

FOLDER is a Karlo-layout diffusers folder (scripts/make_random_weights.py --diffusers-folder, or the
built-in model's work-tmp/builtin/folder). With --steps/--schedulers it sweeps: for each scheduler and step
count, the prior and decoder take that step count (super-res keeps --super-res-steps) and every stage that
scheduler, each run from a fresh generator seeded --seed, exactly as `unclip-run bench pipeline --steps ...
--schedulers ...` does (which calls this script with --reference and the same options).
Stage times are wall-clock between stage boundaries, the same ones unclip's pipeline reports: the prior from
prior_scheduler.set_timesteps (after the text encoder), the decoder from the text_proj forward, super-res from
super_res_scheduler.set_timesteps (before the bicubic upsample), the last stage to the end of the call; they
include the scheduler steps, and ms/step divides by the stage's step count. The components are loaded once
before the runs (load_s, not in total_s). Peak RSS is the process maximum so far (ru_maxrss, monotonic).
Scheduler names are unclip's registry names, each configured from the stage's scheduler_config.json as unclip's
registry does: unclip (the folder's), ddim, ddpm (the stage's variance_type), dpmpp-2m, dpmpp-2m-karras.
euler-a is refused: diffusers' UnCLIPPipeline never calls scale_model_input, so it cannot run Euler correctly.
A run that raises in diffusers gets a row with its step counts and an "error" column, and the sweep goes on.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

STAGES = ("prior", "decoder", "super_res")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# unclip's registry names (Sources/Schedulers/SchedulerRegistry.swift) → diffusers class and the options the name sets.
SCHEDULERS = {"ddim": ("DDIMScheduler", {}), "ddpm": ("DDPMScheduler", {}),
              "dpmpp-2m": ("DPMSolverMultistepScheduler", {}),
              "dpmpp-2m-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True})}


def check_scheduler_name(name: str) -> None:
    if name == "euler-a":
        raise SystemExit("error: euler-a cannot run in diffusers' UnCLIPPipeline (it never calls scale_model_input)")
    if name != "unclip" and name not in SCHEDULERS:
        raise SystemExit(f"error: unknown scheduler {name!r} (use {', '.join(['unclip', *SCHEDULERS])})")


def make_scheduler(name: str, stage_config: dict):
    """A diffusers scheduler for one unCLIP stage, configured from the stage's UnCLIPScheduler config."""
    import diffusers
    check_scheduler_name(name)
    if name == "unclip":
        return diffusers.UnCLIPScheduler.from_config(stage_config)
    cls_name, extra = SCHEDULERS[name]
    base = getattr(diffusers, cls_name)
    config = {k: v for k, v in dict(stage_config).items() if k != "_use_default_values"}
    if cls_name != "DDPMScheduler" and config.get("variance_type") == "learned_range":
        config.pop("variance_type")

    class ForUnCLIP(base):
        def step(self, model_output, timestep, sample, prev_timestep=None, generator=None, return_dict=True):
            if model_output.shape[1] == 2 * sample.shape[1] and cls_name != "DDPMScheduler":
                model_output = model_output[:, : sample.shape[1]]
            return super().step(model_output, timestep, sample, generator=generator, return_dict=return_dict)

    return ForUnCLIP.from_config({**config, **extra})


class StageClock:
    """Wall-clock stage boundaries after start(): the first prior_scheduler.set_timesteps, text_proj forward and
    super_res_scheduler.set_timesteps (the run's own scheduler instances, replaced by run_one for every run)."""

    def __init__(self, pipe):
        self.marks = {}
        self.hooks = [pipe.text_proj.register_forward_pre_hook(lambda mod, args: self._mark("decoder"))]
        for stage, scheduler in (("prior", pipe.prior_scheduler), ("super_res", pipe.super_res_scheduler)):
            def set_timesteps(*a, _orig=scheduler.set_timesteps, _stage=stage, **k):
                self._mark(_stage)
                return _orig(*a, **k)
            scheduler.set_timesteps = set_timesteps

    def _mark(self, stage):
        self.marks.setdefault(stage, time.perf_counter())

    def start(self):
        self.marks = {"text": time.perf_counter()}

    def stop(self) -> dict:
        end = time.perf_counter()
        order = ["text", *STAGES]
        out = {}
        for i, s in enumerate(order):
            nxt = next((self.marks[o] for o in order[i + 1:] if o in self.marks), end)
            out[s] = nxt - self.marks[s] if s in self.marks else 0.0
        return out


def run_one(pipe, folder_configs, args, scheduler: str, steps: dict) -> dict:
    import torch
    for stage in STAGES:
        setattr(pipe, f"{stage}_scheduler", make_scheduler(scheduler, folder_configs[stage]))
    clock = StageClock(pipe)
    clock.start()
    t0 = time.perf_counter()
    try:
        image = pipe(prompt=args.prompt, generator=torch.Generator().manual_seed(args.seed),
                     prior_num_inference_steps=steps["prior"], decoder_num_inference_steps=steps["decoder"],
                     super_res_num_inference_steps=steps["super_res"], prior_guidance_scale=args.prior_guidance,
                     decoder_guidance_scale=args.decoder_guidance, output_type="np").images[0]
    finally:
        for h in clock.hooks:
            h.remove()
    total = time.perf_counter() - t0
    times = clock.stop()
    row = {"engine": "pytorch", "scheduler": scheduler, "total_s": round(total, 3), "peak_rss_mb": round(rss_mb(), 1),
           "text_ms": round(times["text"] * 1e3, 1)}
    for s in STAGES:
        row[f"{s}_steps"] = steps[s]
        row[f"{s}_ms_per_step"] = round(times[s] * 1e3 / max(1, steps[s]), 1)
    row["image_mean"] = float(image.mean())
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--prompt", default="a red circle on a blue background")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prior-steps", type=int, default=25)
    ap.add_argument("--decoder-steps", type=int, default=25)
    ap.add_argument("--super-res-steps", type=int, default=7)
    ap.add_argument("--prior-guidance", type=float, default=4.0)
    ap.add_argument("--decoder-guidance", type=float, default=8.0)
    ap.add_argument("--steps", help="comma-separated step counts for prior and decoder (sweep)")
    ap.add_argument("--schedulers", default="unclip", help="comma-separated scheduler names (sweep)")
    ap.add_argument("--json")
    ap.add_argument("--csv")
    args = ap.parse_args(argv)
    schedulers = args.schedulers.split(",")
    for name in schedulers:
        check_scheduler_name(name)
    try:
        step_list = [int(s) for s in args.steps.split(",")] if args.steps else [None]
    except ValueError:
        raise SystemExit(f"error: --steps must be comma-separated whole numbers, got {args.steps!r}")
    if any(n is not None and n < 1 for n in step_list):
        raise SystemExit("error: --steps must be at least 1")
    import diffusers
    import torch
    import transformers
    torch.set_num_threads(args.threads)
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    from unclip_torch import load_pipeline
    t0 = time.perf_counter()
    pipe = load_pipeline(args.folder)
    load_s = time.perf_counter() - t0
    print(f"pytorch {torch.__version__}, {args.threads} threads; load {load_s:.2f} s, RSS {rss_mb():.0f} MB", flush=True)
    configs = {s: json.load(open(os.path.join(args.folder, f"{s}_scheduler", "scheduler_config.json"))) for s in STAGES}
    rows = []
    for sched in schedulers:
        for n in step_list:
            steps = {"prior": n or args.prior_steps, "decoder": n or args.decoder_steps, "super_res": args.super_res_steps}
            try:
                row = run_one(pipe, configs, args, sched, steps)
            except Exception as e:  # noqa: BLE001 — diffusers fails on some configurations; record it, run the rest
                # (e.g. Karras sigmas that repeat a timestep: DPMSolverMultistepScheduler then starts at the 2nd index).
                row = {"engine": "pytorch", "scheduler": sched, **{f"{s}_steps": steps[s] for s in STAGES},
                       "error": f"{type(e).__name__}: {e}"}
                rows.append(row)
                print(f"{sched:16} prior {steps['prior']:3d}  decoder {steps['decoder']:3d}  super-res {steps['super_res']:2d}"
                      f"  error: {row['error']}", flush=True)
                continue
            row["load_s"] = round(load_s, 2)
            rows.append(row)
            print(f"{sched:16} prior {steps['prior']:3d} x {row['prior_ms_per_step']:8.1f} ms  decoder {steps['decoder']:3d} x "
                  f"{row['decoder_ms_per_step']:8.1f} ms  super-res {steps['super_res']:2d} x {row['super_res_ms_per_step']:8.1f} ms"
                  f"  total {row['total_s']:7.2f} s  peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    if args.json:
        with atomic_open(args.json) as f:
            json.dump(rows, f, indent=1)
    if args.csv:
        with atomic_open(args.csv, newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            w.writeheader()
            w.writerows(rows)
    return 0


@contextlib.contextmanager
def atomic_open(path: str, **kw):
    """Writes to a temporary file next to `path`, renamed over it only when the block completes."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", **kw) as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


if __name__ == "__main__":
    raise SystemExit(main())
