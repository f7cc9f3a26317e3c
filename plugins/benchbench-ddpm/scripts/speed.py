"""Generation speed of tiny DDPM pipelines (init-tiny) at 64 and 128 px: frames/s, wall and CPU.

    python plugins/benchbench-ddpm/scripts/speed.py [--threads 1] [--device cpu] [--n 16] [--runs ddim:50:16]

Prints one JSON line per (size, sampler, steps, batch) (benchbench.diffusion.speed_script).
"""

from __future__ import annotations

from benchbench.diffusion import speed_script


def build(out, size):
    from benchbench_ddpm.tiny import build_tiny_ddpm

    return build_tiny_ddpm(out, size=size)


def make(weights, *, sampler, steps, batch, device):
    from benchbench_ddpm.generator import DdpmGenerator

    return DdpmGenerator(weights=weights, sampler=sampler, steps=steps, batch=batch, device=device)


if __name__ == "__main__":
    speed_script("tiny-ddpm", build, make, runs="ddim:50:16,ddpm:1000:16", n=16)
