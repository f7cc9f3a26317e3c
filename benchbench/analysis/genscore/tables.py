"""The generator-score table (one row per generated set, extractor and class) and the report section,
shared by report.md and the `bench generators` commands."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from benchbench.analysis.report.markdown import md_table, md_text

HEADERS = ["set", "features", "class", "n syn/real", "FD", "KID ± SE", "precision", "recall", "density",
           "coverage"]
MEM_HEADERS = ["set", "space", "median NN dist. to train / scale", "near-copies of train", "near-copies of TEST",
               "exact copies of TEST"]


def fold_views(section: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(title, section) per score table: a plain split's whole section untitled; with specimen folds, one
    per fold, holding the fold's extractors, reference row, quality bar and sets."""
    if not section.get("folds"):
        return [("", section)]
    return [(f"fold {f['fold']} (test specimens {', '.join(f['test_groups'])})",
             {**section, **f, "sets": [s for s in section.get("sets", []) if s.get("fold") == f["fold"]]})
            for f in section["folds"]]


def _f(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}g}"


def score_rows(section: dict[str, Any]) -> list[list[str]]:
    """Rows of the score table; the real test frames (the reference a faithful generator would score) first."""
    rows = []
    for s in [*([section["reference"]] if section.get("reference") else []), *section.get("sets", [])]:
        for ext, by_class in (s.get("scores") or {}).items():
            for label, v in by_class.items():
                kid = "–" if v.get("kid") is None else f"{v['kid']:.3g} ± {v['kid_se']:.2g}"
                rows.append([s["id"], ext, label, f"{v['n_syn']}/{v['n_real']}", _f(v.get("fd")), kid,
                             _f(v.get("precision")), _f(v.get("recall")), _f(v.get("density")),
                             _f(v.get("coverage"))])
    return rows


QUALITY_HEADERS = ["set", "FD crack (cnn)", "coverage crack (cnn)", "cracked recognised", "rule", "meets bar"]


def quality_rows(section: dict[str, Any]) -> list[list[str]]:
    """Rows of the quality-bar table (benchbench.analysis.genscore.quality); a failed check is marked with ✗.
    The held-out real frames come first, scored the same way, unchecked: what new real specimens reach."""
    q = section.get("quality") or {}
    rows = []
    if ref := q.get("real_test"):
        rows.append(["real test frames (reference)", _f(ref["fd"]), _f(ref["coverage"]), _f(ref["recognised"]),
                     ref["rule"] or "–", "–"])
    for r in q.get("sets", []):
        mark = {k: "" if v is not False else " ✗" for k, v in r["checks"].items()}
        rows.append([r["id"], _f(r["fd"]) + mark["fd"], _f(r["coverage"]) + mark["coverage"],
                     _f(r["recognised"]) + mark["recognised"], _rule(r), "yes" if r["meets_bar"] else "no"])
    return rows


def _rule(row: dict[str, Any]) -> str:
    """The rule, and for teacher labels of frames drawn around masks how many boxes lie on the mask."""
    rule = row["rule"] or "–"
    return rule if row.get("on_mask") is None else f"{rule} ({row['on_mask']} on the mask)"


def quality_note(section: dict[str, Any]) -> str:
    q = section.get("quality") or {}
    bar = "the physics sets' mean" + (f" ({q['fd_bar']:.3g})" if q.get("fd_bar") is not None else " (no physics set)")
    return (f"Quality bar: cracked frames' FD in the {q.get('extractor', 'cnn')} space at most {bar}, coverage at "
            f"least {q.get('coverage_min', '?')}, at least {q.get('recognised_min', '?')} of the cracked frames "
            "recognised as cracked (mask: the frame's crack mask gives a box; teacher: the share the teacher "
            "labelled, and for frames drawn around a mask how many of its boxes lie on that mask's crack; boxes: the "
            "frame has its own box). The reference row, unchecked, is the held-out real "
            "frames read the same way: what frames of new real specimens reach.")


def memorisation_rows(section: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in section.get("sets", []):
        for space, m in (s.get("memorisation") or {}).items():
            rows.append([s["id"], space, _f(m["train"].get("median_ratio"), 2),
                         f"{m['train']['near_copies']}/{m['n']}", f"{m['test']['near_copies']}/{m['n']}",
                         str(m["test"]["exact_copies"])])
    return rows


def _named(rows: list[list[str]]) -> list[list[Any]]:
    """Rows for report.md: set and feature names come from plugins and are escaped (terminal tables are not)."""
    return [[md_text(r[0]), md_text(r[1]), *r[2:]] for r in rows]


def images(section: dict[str, Any]) -> list[tuple[str, str]]:
    """(path relative to the run folder, caption) of the section's pictures: closest pairs, score vs gain."""
    grids = [(f"genscore/{s['closest_pairs_png']}", f"closest pairs {s['closest_pairs_png']}")
             for s in section.get("sets", []) if s.get("closest_pairs_png")]
    return grids + [(p, "score vs gain") for p in section.get("plots", [])]


def report_markdown(section: dict[str, Any], with_images: bool = True) -> str:
    """The body of the "Generator scores" report section: tables, LEAK lines, score-vs-gain and, unless
    ``with_images`` is off (the caller places them), the pictures."""
    settings = section.get("settings") or {}
    out = ["Each generated set (generator, guidance, seed) against the real training frames of the same class "
           f"(k = {settings.get('k', '?')} for precision/recall/density/coverage). Lower FD/KID is closer; "
           "density ≈ 1 and coverage ≈ 1 when the sets match. The first rows score the held-out real test frames "
           "the same way: what a generator drawing new real specimens would get. See docs/generators.md.", ""]
    out += [f"**LEAK: {md_text(flag)}**\n" for flag in section.get("flags", [])]
    for title, view in fold_views(section):
        if title:
            out += [f"### Scores, {md_text(title)}", "",
                    "Against this fold's real training frames; the reference row is its held-out test frames.", ""]
        heading = "###" if not title else "####"
        out += [md_table(HEADERS, _named(score_rows(view))), f"{heading} Memorisation", "",
                "Nearest-neighbour distances of the synthetic frames, relative to the real scale (median distance "
                f"of a test frame to its nearest training frame); near-copy below {settings.get('near_copy', '?')} "
                "of it.", "", md_table(MEM_HEADERS, _named(memorisation_rows(view)))]
        if view.get("quality"):
            out += [f"{heading} Quality bar", "", quality_note(view), "",
                    md_table(QUALITY_HEADERS, [[md_text(r[0]), *r[1:]] for r in quality_rows(view)])]
    gain = section.get("gain") or {}
    out += ["### Do the scores predict the gain?", "", gain.get("method", ""), ""]
    if gain.get("conclusion"):
        out += [f"**{gain['conclusion']}**", ""]
    if gain.get("multiple_comparisons"):
        out += [gain["multiple_comparisons"] + ".", ""]
    for metric, data in (gain.get("metrics") or {}).items():
        rows = [[md_text(name), r["n_sets"], r["n_cells"], _f(r.get("rho"), 2),
                 "–" if not r.get("ci") else f"[{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]", md_text(r.get("note", ""))]
                for name, r in data["by_score"].items()]
        out += [f"Gain in {metric} over the real-only baseline of the same detector and seed:", "",
                md_table(["score", "sets", "cells", "ρ", "95% CI", "note"], rows)]
    out += [f"- error: {md_text(e)}" for e in section.get("errors", [])]
    out += [f"- note: {md_text(n)}" for n in section.get("notes", [])]
    if with_images:
        out += [f"![{caption}]({quote(path)})\n" for path, caption in images(section)]
    return "\n".join(out) + "\n"
