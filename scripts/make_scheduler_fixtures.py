"""Golden loops for the scheduler tests: diffusers' model-free scheduler loops, every step recorded.

Mirrors diffusers' tests/schedulers (SchedulerCommonTest.dummy_sample_deter / dummy_model / full_loop) for
UnCLIPScheduler, DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler and EulerAncestralDiscreteScheduler
(diffusers 0.42.1, torch 2.13 CPU). Writes Tests/Fixtures/schedulers.safetensors:

- `loop.<case>.x`              [N+1, *shape] F32  x[0] = dummy sample · init_noise_sigma, x[i+1] = prev_sample of step i
                                                  (cases with record "final": [2, *shape], first and last only)
- `loop.<case>.pred_original`  [N, *shape] F32    pred_original_sample of each step (not for DPM-Solver)
- `loop.<case>.timesteps`      [N] I64            scheduler.timesteps (Euler: rounded half to even)
- `loop.<case>.model_timesteps`[N] F32            the (fractional) timesteps the model saw (Euler only)
- `loop.<case>.sigmas`         [N+1] F32          scheduler.sigmas (DPM-Solver, Euler)
- `table.<schedule>.betas`, `table.<schedule>.alphas_cumprod` [1000] F32 for linear and scaled_linear
- `rng.generic.seed<s>.n<n>`   [n] F32            torch.randn under ATEN_CPU_CAPABILITY=default (the portable kernel)

Metadata `cases` is a JSON list (sorted keys) describing each loop: class, config (diffusers keys), steps or
custom_timesteps, seed, step kwargs (eta, use_clipped_model_output), learned_variance, shape, record, begin_index,
prev_timestep ("next": the unCLIP pipeline's prev_timestep=timesteps[i+1]; "none": diffusers' full_loop).
The dummy model is `x·t/(t+1)` with t the float timestep; with learned_variance the model output is
cat([ε, clamp(0.5·ε, −1, 1)], dim=1). Each loop draws from its own `torch.Generator().manual_seed(seed)`.

    .venv-ref/bin/python scripts/make_scheduler_fixtures.py     # rerunning reproduces the file byte for byte
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       UnCLIPScheduler)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unclip_format import array_entry, write_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "schedulers.safetensors")
CLASSES = {c.__name__: c for c in (UnCLIPScheduler, DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler,
                                   EulerAncestralDiscreteScheduler)}
UNCLIP = {"num_train_timesteps": 1000, "variance_type": "fixed_small_log", "clip_sample": True,
          "clip_sample_range": 1.0, "prediction_type": "epsilon"}
LINEAR = {"num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear"}
SCALED = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
COSINE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}
UNCLIP25 = [999, 957, 916, 874, 832, 791, 749, 708, 666, 624, 583, 541, 500, 458, 416, 375, 333, 291, 250, 208,
            166, 125, 83, 42, 0]


def case(name, cls, config, steps=None, seed=0, **extra):
    c = {"name": name, "class": cls, "config": config, "seed": seed, "steps": steps,
         "learned_variance": False, "shape": [4, 3, 8, 8], "record": "all", "prev_timestep": "none", "step_kwargs": {}}
    c.update(extra)
    return c


CASES = [
    # UnCLIPScheduler: diffusers' test config, the three Karlo stage configs, and diffusers' 1000-step full_loop.
    case("unclip_fixed_small_log_n25", "UnCLIPScheduler", UNCLIP, 25, seed=0, prev_timestep="next"),
    case("unclip_learned_range_n25", "UnCLIPScheduler", dict(UNCLIP, variance_type="learned_range"), 25, seed=1,
         prev_timestep="next", learned_variance=True),
    case("unclip_prior_sample_n25", "UnCLIPScheduler",
         dict(UNCLIP, prediction_type="sample", clip_sample_range=5.0), 25, seed=2, prev_timestep="next", shape=[4, 192]),
    case("unclip_superres_n7", "UnCLIPScheduler", UNCLIP, 7, seed=3, prev_timestep="next"),
    case("unclip_full1000", "UnCLIPScheduler", UNCLIP, None, seed=0, record="final"),
    # DDIMScheduler: the three spacings at eta 0, stochastic eta, other schedules and prediction types.
    case("ddim_leading_n10", "DDIMScheduler", dict(LINEAR, clip_sample=True), 10),
    case("ddim_trailing_n10", "DDIMScheduler", dict(LINEAR, timestep_spacing="trailing"), 10),
    case("ddim_linspace_n10", "DDIMScheduler", dict(LINEAR, timestep_spacing="linspace"), 10),
    case("ddim_leading_eta05_n10", "DDIMScheduler", LINEAR, 10, seed=4, step_kwargs={"eta": 0.5}),
    case("ddim_linspace_eta05_vpred_n10", "DDIMScheduler",
         dict(SCALED, prediction_type="v_prediction", set_alpha_to_one=False, clip_sample=False,
              timestep_spacing="linspace"), 10, seed=5, step_kwargs={"eta": 0.5}),
    case("ddim_offset_sample_learned_n8", "DDIMScheduler",
         dict(COSINE, prediction_type="sample", steps_offset=1, clip_sample_range=1.0), 8, seed=6,
         learned_variance=True, step_kwargs={"eta": 1.0, "use_clipped_model_output": True}),
    # DDPMScheduler: default, unCLIP reproduction (learned_range on custom timesteps), other variances.
    case("ddpm_fixed_small_n10", "DDPMScheduler", LINEAR, 10, seed=7),
    case("ddpm_unclip_learned_range", "DDPMScheduler",
         dict(COSINE, variance_type="learned_range", prediction_type="epsilon", clip_sample=True),
         None, seed=1, custom_timesteps=UNCLIP25, learned_variance=True),
    case("ddpm_vpred_fixed_large_trailing_n10", "DDPMScheduler",
         dict(SCALED, variance_type="fixed_large", prediction_type="v_prediction", timestep_spacing="trailing",
              clip_sample=False), 10, seed=8),
    case("ddpm_sample_fixed_small_log_linspace_n9", "DDPMScheduler",
         dict(COSINE, variance_type="fixed_small_log", prediction_type="sample", clip_sample_range=5.0,
              timestep_spacing="linspace"), 9, seed=9, shape=[4, 192]),
    # DPMSolverMultistepScheduler: 2M, Karras (rounded and, for squaredcos, truncated), 3M, heun, SDE.
    case("dpm_2m_n10", "DPMSolverMultistepScheduler", LINEAR, 10),
    case("dpm_2m_karras_n10", "DPMSolverMultistepScheduler", dict(LINEAR, use_karras_sigmas=True), 10),
    # Karras σs on the cosine chain map to duplicate timesteps (998 × 11): diffusers' index_for_timestep would
    # start at the *second* 998 and run past the end, so this loop starts with set_begin_index(0).
    case("dpm_2m_karras_cosine_n25", "DPMSolverMultistepScheduler", dict(COSINE, use_karras_sigmas=True), 25,
         begin_index=0),
    case("dpm_3m_n12", "DPMSolverMultistepScheduler", dict(SCALED, solver_order=3), 12),
    case("dpm_2m_heun_sigma_min_leading_n20", "DPMSolverMultistepScheduler",
         dict(LINEAR, solver_type="heun", final_sigmas_type="sigma_min", timestep_spacing="leading", steps_offset=1),
         20),
    case("dpm_sde_2m_n10", "DPMSolverMultistepScheduler", dict(LINEAR, algorithm_type="sde-dpmsolver++"), 10, seed=10),
    case("dpm_sde_3m_vpred_trailing_n10", "DPMSolverMultistepScheduler",
         dict(SCALED, algorithm_type="sde-dpmsolver++", solver_order=3, prediction_type="v_prediction",
              timestep_spacing="trailing"), 10, seed=11),
    case("dpm_2m_learned_cosine_n10", "DPMSolverMultistepScheduler",
         dict(COSINE, variance_type="learned_range"), 10, learned_variance=True),
    # EulerAncestralDiscreteScheduler: fractional linspace timesteps, leading, trailing + v-prediction.
    case("euler_a_linspace_n8", "EulerAncestralDiscreteScheduler", LINEAR, 8, seed=12),
    case("euler_a_leading_offset_n10", "EulerAncestralDiscreteScheduler",
         dict(SCALED, timestep_spacing="leading", steps_offset=1), 10, seed=13),
    case("euler_a_trailing_vpred_cosine_n10", "EulerAncestralDiscreteScheduler",
         dict(COSINE, timestep_spacing="trailing", prediction_type="v_prediction"), 10, seed=14),
]


def dummy_sample_deter(shape):
    """diffusers' dummy_sample_deter: arange(768)/768 reshaped (3, 8, 8, 4), permuted to (4, 3, 8, 8)."""
    n = 4 * 3 * 8 * 8
    s = (torch.arange(n).reshape(3, 8, 8, 4) / n).permute(3, 0, 1, 2).contiguous()
    return s.reshape(shape).contiguous()


def run(c):
    sched = CLASSES[c["class"]](**c["config"])
    if c.get("custom_timesteps"):
        sched.set_timesteps(timesteps=c["custom_timesteps"])
    elif c["steps"] is not None:
        sched.set_timesteps(c["steps"])
    if c.get("begin_index") is not None:
        sched.set_begin_index(c["begin_index"])
    g = torch.Generator().manual_seed(c["seed"])
    x = dummy_sample_deter(c["shape"]) * sched.init_noise_sigma
    xs, x0s = [x], []
    ts = sched.timesteps
    for i, t in enumerate(ts):
        inp = sched.scale_model_input(x, t)
        tf = t.to(torch.float32)
        eps = inp * tf / (tf + 1)
        out = torch.cat([eps, (0.5 * eps).clamp(-1, 1)], dim=1) if c["learned_variance"] else eps
        if c["class"] == "DDIMScheduler" and c["learned_variance"]:
            out = out[:, : x.shape[1]]  # diffusers' DDIM does not split learned variance itself (the Swift one does)
        kwargs = dict(c["step_kwargs"], generator=g)
        if c["prev_timestep"] == "next":
            kwargs["prev_timestep"] = ts[i + 1] if i + 1 < len(ts) else None
        res = sched.step(out, t, x, **kwargs)
        x = res.prev_sample
        xs.append(x)
        if getattr(res, "pred_original_sample", None) is not None:
            x0s.append(res.pred_original_sample)
    arrays = {"x": torch.stack(xs if c["record"] == "all" else [xs[0], xs[-1]]).numpy()}
    if x0s and c["record"] == "all":
        arrays["pred_original"] = torch.stack(x0s).numpy()
    if ts.dtype.is_floating_point:
        arrays["model_timesteps"] = ts.numpy().astype(np.float32)
        arrays["timesteps"] = np.round(ts.numpy().astype(np.float64)).astype(np.int64)
    else:
        arrays["timesteps"] = ts.numpy().astype(np.int64)
    if hasattr(sched, "sigmas") and c["class"] != "UnCLIPScheduler":
        arrays["sigmas"] = sched.sigmas.numpy().astype(np.float32)
    return arrays


GENERIC_RNG = """
import sys, torch, numpy as np
assert torch.backends.cpu.get_cpu_capability() == "DEFAULT", torch.backends.cpu.get_cpu_capability()
out = {}
for s in (0, 42):
    for n in (16, 17, 100, 768):
        out[f"rng.generic.seed{s}.n{n}"] = torch.randn(n, generator=torch.Generator().manual_seed(s)).numpy()
np.savez(sys.argv[1], **out)
"""


def generic_rng():
    """torch.randn with the portable (DEFAULT capability) Box–Muller kernel, in a child process."""
    path = os.path.join(os.path.dirname(OUT), ".rng_generic.npz")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    subprocess.run([sys.executable, "-c", GENERIC_RNG, path], env=env, check=True)
    try:
        with np.load(path) as z:
            return {k: z[k].copy() for k in z.files}
    finally:
        os.remove(path)


def main():
    torch.set_num_threads(1)
    entries, meta = [], []
    for c in CASES:
        for k, v in run(c).items():
            entries.append(array_entry(f"loop.{c['name']}.{k}", np.ascontiguousarray(v)))
        meta.append(c)
    for name, cfg in (("linear", LINEAR), ("scaled_linear", SCALED)):
        s = DDPMScheduler(**cfg)
        entries.append(array_entry(f"table.{name}.betas", s.betas.numpy()))
        entries.append(array_entry(f"table.{name}.alphas_cumprod", s.alphas_cumprod.numpy()))
    for k, v in generic_rng().items():
        entries.append(array_entry(k, v))
    versions = json.dumps({"torch": torch.__version__, "diffusers": __import__("diffusers").__version__,
                           "numpy": np.__version__}, sort_keys=True)
    size = write_file(OUT, entries, {"cases": json.dumps(meta, sort_keys=True, separators=(",", ":")),
                                     "versions": versions})
    print(f"wrote {OUT}: {len(entries)} tensors, {size} bytes")


if __name__ == "__main__":
    main()
