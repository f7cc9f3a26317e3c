"""Score-vs-gain scatter plots: one figure per (gain metric, extractor), a panel per class and score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.analysis.genscore.predict import set_scores
from benchbench.analysis.genscore.score import LABELS, SCORES
from benchbench.analysis.report.plots import DPI, metric_label, save_png, slug


def gain_plots(section: dict[str, Any], out_dir: Path) -> list[Path]:
    from matplotlib.figure import Figure  # matplotlib: heavy, off the start-up path

    scores = set_scores(section)
    paths = []
    for metric, data in (section.get("gain") or {}).get("metrics", {}).items():
        rows = data["cells"]
        for ext in section.get("extractors", {}):
            fig = Figure(figsize=(2.2 * len(SCORES), 2.2 * len(LABELS)), dpi=DPI, layout="constrained")
            axes = fig.subplots(len(LABELS), len(SCORES), squeeze=False)
            drawn = False
            for i, label in enumerate(LABELS):
                for j, score in enumerate(SCORES):
                    name = f"{ext}.{label}.{score}"
                    ax = axes[i][j]
                    pts = [(scores[r["set"]][name], r["gain"], r["ratio"]) for r in rows
                           if name in scores.get(r["set"], {})]
                    if pts:
                        drawn = True
                        x, y, c = zip(*pts, strict=True)
                        ax.scatter(x, y, c=c, cmap="viridis", s=14)
                    ax.axhline(0, color="grey", lw=0.6)
                    res = data["by_score"].get(name) or {}
                    rho = res.get("rho")
                    ci = res.get("ci")
                    title = "too few points" if rho is None else f"ρ={rho:.2f}" + (
                        f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
                    ax.set_title(f"{label} {score}\n{title}", fontsize=7)
                    ax.tick_params(labelsize=6)
                    if j == 0:
                        ax.set_ylabel(f"Δ {metric_label(metric)}", fontsize=7)
            if drawn:
                fig.suptitle(f"{ext} features: score vs gain over real-only (colour: synthetic ratio)", fontsize=8)
                paths.append(save_png(fig, out_dir / f"score_gain__{slug(ext)}__{slug(metric)}.png"))
    return paths
