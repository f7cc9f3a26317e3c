"""Draw the sample grid of issue #23 (item 5): one fold's real training frames and each named generated set,
cracked and sane rows, read back from the frame cache of the runs that made them (nothing is generated).

    python examples/study/generator_grid.py --fold 0 --out docs/images/generators-fold0-grid.png \
        results/generators-cv-ddpm:physics:- results/generators-cv-ddpm:ddpm-guided:7.5 \
        results/generators-sd64-fold0:sd64-cw30:7.5

Each SET is RUN_DIR:GENERATOR:GUIDANCE (``-`` for a generator without guidance), seed 0: from a run with
specimen folds, the set of ``--fold``; from a plain split (a single-fold matrix with ``test_groups``), its
only set, so give the fold whose test specimens those are. The real rows are the first run's training
frames.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def prepared_run(run_dir: str, cache):
    """The run's prepared plan, as `bench generators score` rebuilds it from results.json."""
    from benchbench.method.matrix import parse_matrix
    from benchbench.pipeline.runner import prepare

    run = json.loads((Path(run_dir) / "results.json").read_text())["run"]
    matrix_file = str(run.get("matrix_file") or Path(run_dir) / "results.json")
    return prepare(parse_matrix(run["matrix"], matrix_file), matrix_file, run.get("matrix_sha256", ""), cache)


def main() -> None:
    from benchbench.drawing.samples import sample_grid
    from benchbench.frames import FrameSet
    from benchbench.pipeline.generated import run_sets
    from benchbench.records.cache import Cache

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", metavar="RUN_DIR:GENERATOR:GUIDANCE")
    ap.add_argument("--fold", type=int, default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache-dir", default=".benchbench-cache")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--masks", action="store_true", help="tint each frame's crack mask green")
    args = ap.parse_args()
    cache, runs, rows = Cache(args.cache_dir), {}, {}
    for spec in args.sets:
        run_dir, generator, guidance = spec.rsplit(":", 2)
        if run_dir not in runs:
            runs[run_dir] = prepared_run(run_dir, cache)
        p = runs[run_dir]
        fold = args.fold if any(f.index is not None for f in p.folds) else None  # a plain split: fold None
        if not rows:
            train = p.fold(fold).train
            for label in ("crack", "sane"):
                rows[f"real {label}"] = FrameSet([f for f in train if f.label == label], f"real {label}")
        sets, _ = run_sets(p, cache)
        want = None if guidance == "-" else float(guidance)
        found = [s for s in sets.values() if s.meta["generator"] == generator and s.meta["guidance"] == want
                 and s.meta["seed"] == 0 and s.meta.get("fold") == fold]
        if len(found) != 1:
            raise SystemExit(f"{spec}: {len(found)} sets of fold {fold} in the cache (need one)")
        for label in ("crack", "sane"):
            tag = "" if want is None else f" g{guidance}"
            rows[f"{generator}{tag} {label}"] = found[0].frames[label]
    print(sample_grid(rows, args.out, n=args.n, masks=args.masks))


if __name__ == "__main__":
    main()
