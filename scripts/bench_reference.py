#!/usr/bin/env python3
"""PyTorch/diffusers side of `unclip-run bench`: the same unCLIP generation, timed per stage, on the same weights.

Mirrors diffusers 0.42.1 UnCLIPPipeline.__call__ (pipelines/deprecated/unclip/pipeline_unclip.py), run as is
(fp32, CPU); schedulers other than UnCLIPScheduler are swapped in per stage as in scripts/fixture_e2e.py.

  .venv-ref/bin/python scripts/bench_reference.py FOLDER [--prompt TEXT] [--seed N] [--threads 2]
      [--prior-steps 25] [--decoder-steps 25] [--super-res-steps 7] [--prior-guidance 4] [--decoder-guidance 8]
      [--steps 5,10,25 --schedulers unclip,ddim]  [--json OUT.json] [--csv OUT.csv]

FOLDER is a Karlo-layout diffusers folder (scripts/make_random_weights.py --diffusers-folder, or the
built-in model's work-tmp/builtin/folder). With --steps/--schedulers it sweeps: every stage gets the same
step count (super-res keeps --super-res-steps) and scheduler, like `unclip-run bench --steps ... --schedulers ...`.
Stage times are wall-clock between stage boundaries (first forward of each stage's model), so they include
the scheduler steps; ms/step divides by the stage's step count. Peak RSS is the process maximum (ru_maxrss).
Scheduler names: unclip (the folder's), ddim, ddpm, dpmpp-2m, dpmpp-2m-karras. euler-a is refused: diffusers'
UnCLIPPipeline never calls scale_model_input, so it cannot run Euler correctly.
"""
from __future__ import annotations

import argparse
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


def make_scheduler(name: str, stage_config: dict):
    """A diffusers scheduler for one unCLIP stage, configured from the stage's UnCLIPScheduler config."""
    import diffusers
    if name == "unclip":
        return diffusers.UnCLIPScheduler.from_config(stage_config)
    classes = {"ddim": ("DDIMScheduler", {}), "ddpm": ("DDPMScheduler", {"variance_type": "learned_range"}),
               "dpmpp-2m": ("DPMSolverMultistepScheduler", {}),
               "dpmpp-2m-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True})}
    if name not in classes:
        raise SystemExit(f"error: unknown or unsupported scheduler {name!r} (use {', '.join(['unclip', *classes])})")
    cls_name, extra = classes[name]
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
    """Wall-clock stage boundaries from the first forward of each stage's model after start()."""

    def __init__(self, pipe):
        self.marks, self.hooks = {}, []
        for stage, module in (("prior", pipe.prior), ("decoder", pipe.text_proj), ("super_res", pipe.super_res_first),
                              ("super_res", pipe.super_res_last)):
            self.hooks.append(module.register_forward_pre_hook(self._mark(stage)))

    def _mark(self, stage):
        def hook(mod, args):
            self.marks.setdefault(stage, time.perf_counter())
        return hook

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
    image = pipe(prompt=args.prompt, generator=torch.Generator().manual_seed(args.seed),
                 prior_num_inference_steps=steps["prior"], decoder_num_inference_steps=steps["decoder"],
                 super_res_num_inference_steps=steps["super_res"], prior_guidance_scale=args.prior_guidance,
                 decoder_guidance_scale=args.decoder_guidance, output_type="np").images[0]
    total = time.perf_counter() - t0
    times = clock.stop()
    for h in clock.hooks:
        h.remove()
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
    step_list = [int(s) for s in args.steps.split(",")] if args.steps else [None]
    rows = []
    for sched in args.schedulers.split(","):
        for n in step_list:
            steps = {"prior": n or args.prior_steps, "decoder": n or args.decoder_steps, "super_res": args.super_res_steps}
            row = run_one(pipe, configs, args, sched, steps)
            row["load_s"] = round(load_s, 2)
            rows.append(row)
            print(f"{sched:16} prior {steps['prior']:3d} x {row['prior_ms_per_step']:8.1f} ms  decoder {steps['decoder']:3d} x "
                  f"{row['decoder_ms_per_step']:8.1f} ms  super-res {steps['super_res']:2d} x {row['super_res_ms_per_step']:8.1f} ms"
                  f"  total {row['total_s']:7.2f} s  peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
