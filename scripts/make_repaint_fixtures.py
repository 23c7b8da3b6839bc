"""Golden data for RePaint support in the schedulers (Swift: Tests/SchedulerTests/RePaintTests.swift).

Mirrors diffusers 0.42.1 schedulers/scheduling_repaint.py (RePaintScheduler), torch 2.13 CPU. Writes
Tests/Fixtures/repaint.json (sorted keys):

- `plans`: for each (steps N, jump_length, jump_n_sample): `RePaintScheduler(num_train_timesteps=N)
  .set_timesteps(N, jump_length, jump_n_sample)` — with T = N the timesteps are the walk's levels themselves.
- `undo`: `RePaintScheduler(num_train_timesteps=T, beta_schedule=...).set_timesteps(T)` then
  `undo_step(sample, t, generator=torch.Generator().manual_seed(seed))` on a fixed sample: with T = N each undo is one
  table step, q(x_{t} | x_{t-1}) = N(√(1−β_t)·x, β_t·I), which is what unclip's jumpForward does over a step of
  a single-training-step schedule. Also the betas and alphas_cumprod of each schedule.

    .venv-ref/bin/python scripts/make_repaint_fixtures.py     # rerunning reproduces the file byte for byte
"""
import json
import os

import torch
from diffusers import RePaintScheduler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "repaint.json")

PLANS = [(10, 2, 3), (25, 5, 2), (25, 10, 10), (7, 3, 1), (12, 12, 4), (30, 4, 3), (1, 1, 5)]
UNDO = [  # (schedule, T, t, seed, shape)
    ("squaredcos_cap_v2", 50, 0, 1, [1, 3, 4, 4]),
    ("squaredcos_cap_v2", 50, 17, 2, [2, 3, 4, 4]),
    ("squaredcos_cap_v2", 50, 49, 3, [1, 3, 4, 4]),
    ("linear", 50, 25, 4, [1, 3, 2, 5]),
]


def main():
    plans = []
    for n, jl, jn in PLANS:
        s = RePaintScheduler(num_train_timesteps=n)
        s.set_timesteps(n, jump_length=jl, jump_n_sample=jn)
        plans.append({"steps": n, "jump_length": jl, "jump_n_sample": jn, "levels": [int(v) for v in s.timesteps]})
    undo = []
    for schedule, T, t, seed, shape in UNDO:
        s = RePaintScheduler(num_train_timesteps=T, beta_schedule=schedule)
        s.set_timesteps(T)
        count = 1
        for d in shape:
            count *= d
        sample = (torch.arange(count, dtype=torch.float32).reshape(shape) / count * 2 - 1) * 0.8
        out = s.undo_step(sample, t, generator=torch.Generator().manual_seed(seed))
        undo.append({"beta_schedule": schedule, "num_train_timesteps": T, "t": t, "seed": seed, "shape": shape,
                     "sample": [float(v) for v in sample.flatten()], "result": [float(v) for v in out.flatten()],
                     "betas": [float(v) for v in s.betas], "alphas_cumprod": [float(v) for v in s.alphas_cumprod]})
    with open(OUT, "w") as f:
        json.dump({"plans": plans, "undo": undo}, f, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT)}: {len(plans)} plans, {len(undo)} undo steps")


if __name__ == "__main__":
    main()
