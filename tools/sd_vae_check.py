"""Check an sd-base VAE on one fold's held-out specimens: PSNR and the classic detector's AP@0.1.

    python tools/sd_vae_check.py examples/study/flyd-s-cv.yaml --fold 0 \
        --vae W --out plugins/benchbench-sd/measured/vae-check-fold0.json

The matrix gives the data and the split (the frames of the fold's test specimens, with their boxes,
are the held-out frames; the classic detector is fitted on the fold's training frames). Prints the
JSON it writes; exits 1 when the VAE misses either bar (32 dB; AP within 0.05 of the originals').
A script, not plugin code: it loads the matrix's split as ``bench data export`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("matrix")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--vae", required=True, help="sd-base output folder (or its vae/ folder)")
    ap.add_argument("--size", type=int, default=None, help="VAE frame size (default: the VAE's sample_size)")
    ap.add_argument("--out", default=None, help="JSON file to write")
    ap.add_argument("--png", default=None,
                    help="also write held-out crack frames: original / reconstruction / |diff| x 8")
    args = ap.parse_args(argv)

    import torch
    from benchbench_sd.vaecheck import load_vae, vae_check

    from benchbench.data.split import load_split
    from benchbench.method.matrix import load_matrix
    from benchbench.plugins import get_plugins
    from benchbench.testing import make_context

    torch.set_num_threads(1)
    matrix, _ = load_matrix(args.matrix)
    plugins = get_plugins()
    fold = load_split(matrix, args.matrix, plugins).fold(args.fold)
    vae = load_vae(args.vae)
    size = args.size or int(vae.config.sample_size)
    classic = plugins.registry("detectors").get("classic")
    with tempfile.TemporaryDirectory() as tmp:
        result = vae_check(vae, fold.test, fold.train, classic.create, make_context(tmp), size=size)
    result = {"matrix": args.matrix, "fold": args.fold, "vae": str(args.vae), "detector": "classic", **result}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    if args.png:
        strip(vae, fold.test.positives(), size, args.png)
    return 0 if all(result["passes"].values()) else 1


def strip(vae, frames, size: int, png: str, n: int = 6) -> None:
    """n crack frames spread over ``frames``, at the VAE's size: originals above reconstructions above |diff| x 8."""
    import numpy as np
    from benchbench_sd.vae import round_trip
    from PIL import Image

    columns = []
    for f in list(frames)[::max(1, len(frames) // n)][:n]:
        img = np.asarray(Image.fromarray(f.load()).convert("L").convert("RGB").resize((size, size),
                                                                                      Image.Resampling.BICUBIC))
        rec = round_trip(vae, img)
        diff = np.clip(np.abs(img.astype(int) - rec.astype(int)) * 8, 0, 255).astype(np.uint8)
        columns.append(np.concatenate([img, rec, diff], axis=0))
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(columns, axis=1)).save(png)


if __name__ == "__main__":
    sys.exit(main())
