"""Training steps/s of the guided DDPM on this machine, per resolution and UNet width.

    python plugins/benchbench-ddpm/scripts/train_speed.py --runs 64:32:3,64:64:4,96:32:3,128:32:4 --batch 16

Each run: size:width:levels. Times ``--steps`` optimizer steps (forward, backward, AdamW) on random
images after one warm-up step; prints steps/s and CPU seconds per step (the steadier number on a
shared machine). What ``bench train ddpm --guided`` does per step, without the data loading.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import torch

    from benchbench_ddpm.model import NULL_CLASS, build_scheduler, build_unet

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="64:32:3,96:32:3,128:32:4")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sched = build_scheduler()
    print("| size | width | levels | params (M) | batch | steps/s | CPU s / step |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs.split(","):
        size, width, levels = (int(v) for v in run.split(":"))
        unet = build_unet(size=size, channels=1, width=width, levels=levels, layers=1, attention=True,
                          conditional=True)
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
        x = torch.randn(args.batch, 1, size, size)
        cls = torch.randint(0, NULL_CLASS + 1, (args.batch,))
        train_step(unet, opt, sched, x, cls)  # warm-up: first calls allocate
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            train_step(unet, opt, sched, x, cls)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        params = sum(p.numel() for p in unet.parameters()) / 1e6
        print(f"| {size} | {width} | {levels} | {params:.2f} | {args.batch} | {args.steps / wall:.2f} "
              f"| {cpu / args.steps:.2f} |", flush=True)


def train_step(unet, opt, sched, x, cls) -> None:
    import torch

    t = torch.randint(0, 1000, (x.shape[0],))
    noise = torch.randn_like(x)
    loss = torch.nn.functional.mse_loss(unet(sched.add_noise(x, noise, t), t, class_labels=cls).sample, noise)
    loss.backward()
    opt.step()
    opt.zero_grad()


if __name__ == "__main__":
    main()
