"""`bench generators score RUN_DIR` and `bench generators compare A B`: generator scores without a detector
run (docs/generators.md). Heavy modules are imported inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

CACHE_OPTION = click.option("--cache-dir", type=click.Path(file_okay=False), default=".benchbench-cache",
                            show_default=True, envvar="BENCHBENCH_CACHE")
EXTRACTOR_OPTION = click.option(
    "--extractor", "extractors", multiple=True, metavar="NAME[:KEY=VALUE,...]",
    help="Feature extractor (repeatable), e.g. physics, cnn, dinov2:path=weights/dinov2-small. "
         "Default: the matrix's scores.extractors (score) or physics + cnn (compare).")


def parse_extractor(text: str) -> dict[str, Any]:
    """'dinov2:path=w/d,size=224' -> {'name': 'dinov2', 'path': 'w/d', 'size': 224}."""
    import yaml

    from benchbench.errors import UserError

    name, _, rest = text.partition(":")
    spec: dict[str, Any] = {"name": name.strip()}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"cannot read '{item}' in '{text}'", field="--extractor",
                            fix="write NAME or NAME:KEY=VALUE,KEY=VALUE (e.g. dinov2:path=weights/dinov2)")
        spec[key.strip()] = yaml.safe_load(value)  # numbers and booleans as such, the rest as text
    if not spec["name"]:
        raise UserError(f"no extractor name in '{text}'", field="--extractor", fix="e.g. --extractor physics")
    return spec


def _spec(base: Any, extractors: tuple[str, ...]) -> Any:
    from benchbench.method.scores import ScoresSpec

    data = base.model_dump() if base is not None else {}
    if extractors:
        data["extractors"] = [parse_extractor(e) for e in extractors]
    return ScoresSpec.model_validate(data)


def _print(section: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(section, indent=2, default=str))
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from benchbench.analysis.genscore.tables import (
            HEADERS,
            MEM_HEADERS,
            QUALITY_HEADERS,
            memorisation_rows,
            quality_note,
            quality_rows,
            score_rows,
        )

        out = Console(width=160)
        tables = [("generator scores", HEADERS, score_rows(section)),
                  ("memorisation (pixel and feature space)", MEM_HEADERS, memorisation_rows(section))]
        if section.get("quality"):  # a run's sets (compare scores folders: no cells, no labeler)
            tables.append(("quality bar", QUALITY_HEADERS, quality_rows(section)))
        for title, headers, rows in tables:
            t = Table(title=title)
            for h in headers:
                t.add_column(h)
            for r in rows:
                t.add_row(*(escape(str(v)) for v in r))  # set and feature names come from plugins
            out.print(t)
        if section.get("quality"):
            click.echo(quality_note(section))
        conclusion = (section.get("gain") or {}).get("conclusion")
        for line in [*section.get("notes", []), *([conclusion] if conclusion else [])]:
            click.echo(f"note: {line}")
    for err in section.get("errors", []):
        click.echo(f"warning: {err}", err=True)
    for flag in section.get("flags", []):
        click.echo(f"LEAK: {flag}", err=True)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@EXTRACTOR_OPTION
@CACHE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the generator_scores section as JSON.")
def score(run_dir: str, extractors: tuple[str, ...], cache_dir: str, as_json: bool) -> None:
    """Score the generated sets of an existing run (frames from the cache) and add them to its results.json."""
    from benchbench.errors import UserError
    from benchbench.method.matrix import parse_matrix
    from benchbench.pipeline.generated import prepared_scores
    from benchbench.pipeline.runner import prepare
    from benchbench.plugins import get_plugins
    from benchbench.records.cache import Cache
    from benchbench.records.store import RunStore, load_results

    results = load_results(run_dir)
    run = results.get("run") or {}
    matrix_file = str(run.get("matrix_file") or Path(run_dir) / "results.json")
    matrix = parse_matrix(run.get("matrix"), matrix_file)
    matrix = matrix.model_copy(update={"scores": _spec(matrix.scores, extractors)})
    cache = Cache(cache_dir)
    prepared = prepare(matrix, matrix_file, run.get("matrix_sha256", ""), cache)
    recorded = (run.get("data") or {}).get("manifest_hash")
    results_file = Path(run_dir) / "results.json"
    if recorded and recorded != prepared.data_hash:
        raise UserError("the run's data changed since it ran (manifest hash differs)", file=results_file,
                        field="run.data.manifest_hash", fix="score the run with the data it was made from")
    if not prepared.plan.gen_tasks:
        raise UserError("this run generated no synthetic frames", file=results_file,
                        field="run.matrix.generators", fix="score a run with synthetic ratios > 0")
    section = prepared_scores(prepared, cache, results["cells"], Path(run_dir), get_plugins())
    if not any(s.get("scores") or s.get("memorisation") for s in section["sets"]):
        raise UserError(f"no generated frames of this run are in the cache at {cache_dir}", field="--cache-dir",
                        fix="give the cache the run used, or re-run `bench run` to regenerate them")
    results["generator_scores"] = section
    RunStore(run_dir).write_results(results)
    try:
        from benchbench.analysis.report.build import build_report

        build_report(run_dir)
    except Exception as exc:  # the scores are saved; a plotting problem must not hide them
        click.echo(f"warning: report.md not rewritten: {exc}", err=True)
    _print(section, as_json)
    if not as_json:
        click.echo(f"→ {Path(run_dir) / 'results.json'} (generator_scores)", err=True)


def _folder_set(folder: str, option: str) -> Any:
    from benchbench.analysis.genscore.score import SynthSet
    from benchbench.data.flyd import FlydDataset
    from benchbench.errors import UserError

    frames = FlydDataset(folder, layout="classes", group_regex=None).load()
    by_label = {label: frames.filter(lambda f, lab=label: f.label == lab) for label in ("crack", "sane")}
    if not len(frames):
        raise UserError("no images in crack/ or sane/", file=folder, field=option,
                        fix="give a folder with crack/ and sane/ sub-folders of frames (Classes layout)")
    return SynthSet(by_label, {label: fs.manifest_hash() for label, fs in by_label.items()},
                    {"folder": str(Path(folder).resolve())})


@click.command()
@click.argument("set_a", metavar="A", type=click.Path(exists=True, file_okay=False))
@click.argument("set_b", metavar="B", type=click.Path(exists=True, file_okay=False))
@click.option("--real", "real_root", required=True, type=click.Path(exists=True),
              help="The real dataset (any layout bench data check reads).")
@click.option("--layout", default="auto", show_default=True, help="Layout of --real.")
@click.option("--group-regex", default=r"Sample\d+", show_default=True, help="Specimen of a real frame.")
@click.option("--test-groups", default=None, help="Held-out specimens, comma-separated (default: a seeded draw).")
@click.option("--test-fraction", type=float, default=0.3, show_default=True)
@EXTRACTOR_OPTION
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write scores.json and the closest-pairs grids here.")
@CACHE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def compare(set_a: str, set_b: str, real_root: str, layout: str, group_regex: str, test_groups: str | None,
            test_fraction: float, extractors: tuple[str, ...], out: str | None, cache_dir: str,
            as_json: bool) -> None:
    """Score two folders of generated frames (crack/ and sane/ each) against a real dataset; no detector.

    The real frames are split by specimen as a run would: scores use the training side, memorisation
    checks both sides."""
    from benchbench.analysis.genscore.score import score_sets
    from benchbench.data.flyd import FlydDataset
    from benchbench.data.split import split_frames
    from benchbench.plugins import get_plugins
    from benchbench.records.store import atomic_write_json

    real = FlydDataset(real_root, layout=layout, group_regex=group_regex).load()
    groups = [g.strip() for g in test_groups.split(",")] if test_groups else None
    train, test = split_frames(real, test_fraction=test_fraction, test_groups=groups)
    sets = {"A": _folder_set(set_a, "A"), "B": _folder_set(set_b, "B")}
    spec = _spec(None, extractors)
    section = score_sets(train, test, sets, spec, get_plugins(), cache_root=Path(cache_dir),
                         grid_dir=Path(out) if out else None)
    section["real"] = {"root": str(Path(real_root).resolve()), "n_train": len(train), "n_test": len(test),
                       "test_groups": test.groups()}
    if out:
        atomic_write_json(Path(out) / "scores.json", section)
    _print(section, as_json)
