"""Make the local weights the quickstart needs; nothing is downloaded.

- ``weights/demo/sd``: a tiny, randomly initialised Stable Diffusion pipeline (real tokenizer, real
  loading code) written by ``bench generators init-tiny sd``.
- ``weights/demo/ddpm``: one DDPM per class trained for about half a minute by ``bench train ddpm`` on the
  quickstart's simulated *training* frames only (the held-out test specimens never reach a generator).

Idempotent: existing weights are kept. ``python examples/prepare_demo.py --force`` rebuilds them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights" / "demo"
MATRIX = ROOT / "examples" / "quickstart.yaml"
BENCH = [sys.executable, "-m", "benchbench.cli"]
# About half a CPU-minute: enough for frames with the right intensity layout, not for realism.
DDPM_ARGS = ["--size", "32", "--width", "32", "--levels", "3", "--layers", "1", "--no-attention",
             "--epochs", "6", "--batch", "16", "--lr", "5e-4", "--warmup-steps", "20"]


def _run(args: list[str]) -> None:
    print("$ bench " + " ".join(args[3:]), flush=True)
    subprocess.run(args, check=True, cwd=ROOT)


def main(force: bool = False) -> None:
    sd, ddpm = WEIGHTS / "sd", WEIGHTS / "ddpm"
    if force or not (sd / "model_index.json").exists():
        _run([*BENCH, "generators", "init-tiny", "sd", str(sd)])
    if force or not ((ddpm / "crack").exists() and (ddpm / "sane").exists()):
        data = WEIGHTS / "ddpm-train-frames"
        # Only the training side of the quickstart's split: the run's leakage guard checks the manifest.
        _run([*BENCH, "data", "export", str(MATRIX), "--split", "train", "--out", str(data)])
        print("training a demo DDPM on them (about half a minute on 2 CPUs)…", flush=True)
        t = time.perf_counter()
        _run([*BENCH, "train", "ddpm", "--data", str(data), "--out", str(ddpm), *DDPM_ARGS])
        print(f"DDPM trained in {time.perf_counter() - t:.0f} s", flush=True)
    print(f"demo weights ready in {WEIGHTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main(force="--force" in sys.argv[1:])
