"""Generation speed of tiny SD pipelines (init-tiny) at 64 and 128 px: frames/s, wall and CPU.

    python plugins/benchbench-sd/scripts/speed.py [--threads 1] [--device cpu] [--n 8] [--runs ddim:20:1,ddim:20:4]

Prints one JSON line per (size, scheduler, steps, batch), at guidance 7.5 (benchbench.diffusion.speed_script).
"""

from __future__ import annotations

from benchbench.diffusion import speed_script


def build(out, size):
    from benchbench_sd.tiny import build_tiny_sd

    return build_tiny_sd(out, size=size)


def make(weights, *, sampler, steps, batch, device):
    from benchbench_sd.generator import StableDiffusionGenerator

    return StableDiffusionGenerator(weights=weights, scheduler=sampler, steps=steps, batch=batch, device=device)


if __name__ == "__main__":
    speed_script("tiny-sd", build, make, runs="ddim:20:1,ddim:20:4", n=8, guidance=7.5)
