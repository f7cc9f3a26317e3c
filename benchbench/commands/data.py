"""`bench data fetch | check | simulate`: thin wrappers over benchbench.data (imported inside commands)."""

from __future__ import annotations

import json

import click

_LAYOUT_CHOICES = ["auto", "classes", "yolo", "coco", "masks"]


@click.group()
def data() -> None:
    """Fetch, check and simulate datasets."""


@data.command()
@click.argument("name", type=click.Choice(["flyd-s"]))
@click.option("--dest", type=click.Path(file_okay=False), default="data/flyd-s", show_default=True,
              help="Folder to unpack into.")
@click.option("--from-zip", "from_zip", type=click.Path(dir_okay=False), default=None,
              help="Use a local copy of the archive instead of downloading it.")
def fetch(name: str, dest: str, from_zip: str | None) -> None:
    """Download (or take --from-zip), verify and unpack a public dataset; print the matrix snippet."""
    from benchbench.data.fetch import fetch_flyd_s, matrix_snippet

    root = fetch_flyd_s(dest, from_zip, report=lambda line: click.echo(line, err=True))
    click.echo("use it in a matrix with:")
    click.echo(f"  {matrix_snippet(root)}")


@data.command()
@click.argument("root", type=click.Path())
@click.option("--layout", type=click.Choice(_LAYOUT_CHOICES), default="auto", show_default=True)
@click.option("--group-regex", default=r"Sample\d+", show_default=True,
              help="Regex on the file name giving the group (specimen).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def check(root: str, layout: str, group_regex: str, as_json: bool) -> None:
    """Validate a dataset: counts per class/group, sizes, every problem with file and line (exit 2 on errors)."""
    from benchbench.data.check import check_dataset
    from benchbench.errors import UserError

    report = check_dataset(root, layout, group_regex=group_regex)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.format())
    if not report.ok:
        raise UserError(f"{len(report.errors)} error(s) in the dataset", file=root,
                        fix="fix the problems listed above")


@data.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--n", default=600, show_default=True, help="Number of frames.")
@click.option("--seed", default=0, show_default=True)
@click.option("--size", default=128, show_default=True, help="Crop size in pixels.")
@click.option("--sizes", default=None, help="Comma-separated crop sizes to vary, e.g. 80,120,150,220 (like FLYD-S).")
@click.option("--positive-fraction", default=0.4, show_default=True, help="Share of cracked frames.")
@click.option("--difficulty", default=1.0, show_default=True,
              help="Scales distractors (emissivity edges, notches without crack) and faint cracks.")
@click.option("--layout", type=click.Choice(["classes", "yolo", "coco", "masks", "all"]), default="all",
              show_default=True)
@click.option("--grid-with", "grid_with", type=click.Path(exists=True), default=None,
              help="A real dataset root: also write OUT/real_vs_simulated.png, real frames above simulated ones.")
def simulate(out: str, n: int, seed: int, size: int, sizes: str | None, positive_fraction: float,
             difficulty: float, layout: str, grid_with: str | None) -> None:
    """Write a FLYD-shaped simulated dataset (same seed, same bytes)."""
    from benchbench.data.simulate import simulate_frames, write_dataset
    from benchbench.errors import UserError

    try:
        size_list = tuple(int(s) for s in sizes.split(",")) if sizes else None
    except ValueError:
        raise UserError(f"--sizes must be integers separated by commas (got {sizes!r})", field="--sizes",
                        fix="e.g. --sizes 80,120,150,220") from None
    frames = simulate_frames(n, seed, size, positive_fraction, size_list, difficulty)
    root = write_dataset(frames, out, layout)
    n_crack = len(frames.positives())
    click.echo(f"wrote {len(frames)} frames ({n_crack} crack, {len(frames) - n_crack} sane) to {root} ({layout})")
    if grid_with is not None:
        from benchbench.data.flyd import FlydDataset
        from benchbench.drawing.samples import sample_grid

        real = FlydDataset(grid_with).load()
        png = sample_grid({"real": real, "simulated": frames}, root / "real_vs_simulated.png", n=8, seed=seed)
        click.echo(f"  sample grid: {png}")
    lay = "coco" if layout == "all" else layout
    where = root / lay if layout == "all" else root
    if lay != "classes":
        click.echo(f"  data: {{dataset: flyd, root: {where}, layout: {lay}}}")


@data.command(name="export")
@click.argument("matrix_file", metavar="MATRIX", type=click.Path(dir_okay=False))
@click.option("--split", "part", type=click.Choice(["train", "val", "test"]), default="train", show_default=True,
              help="Which side of the matrix's split to write.")
@click.option("--fold", type=int, default=None,
              help="With split.folds in MATRIX: the fold whose side to write (0 .. K-1).")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for crack/ and sane/ (and masks/ of the cracked frames, where the data has masks).")
def export(matrix_file: str, part: str, fold: int | None, out: str) -> None:
    """Write the frames of one side of MATRIX's split (of one fold's, with --fold) in the Classes layout
    (crack/, sane/).

    Train generators on `--split train` only: the training manifest `bench train` writes from
    it lets `bench run` prove that no test specimen reached the generator (with folds: train one
    generator per fold, each on `--fold I --split train`, and name them in `weights:`).
    """
    from benchbench.data.export import export_classes
    from benchbench.data.split import load_split
    from benchbench.errors import UserError
    from benchbench.method.matrix import load_matrix
    from benchbench.plugins import get_plugins

    matrix, digest = load_matrix(matrix_file)
    data = load_split(matrix, matrix_file, get_plugins())
    if fold is None and matrix.split.folds is not None:
        raise UserError(f"the matrix's split has {len(data.folds)} folds: say which", file=matrix_file,
                        field="--fold", fix=f"add --fold I (0 .. {len(data.folds) - 1})")
    try:
        chosen = data.fold(fold)
    except UserError as exc:
        raise UserError(exc.detail, file=matrix_file, field=exc.field, fix=exc.fix) from None
    frames = {"train": chosen.train, "val": chosen.val, "test": chosen.test}[part]
    if frames is None:
        raise UserError("the matrix has no validation split", file=matrix_file, field="split.val_fraction",
                        fix="set split.val_fraction, or export --split train")
    header = {"matrix": matrix_file, "matrix_sha256": digest, "split": part, "dataset": data.entry.name,
              "dataset_fingerprint": data.dataset.fingerprint(), "split_spec": matrix.split.model_dump()}
    if fold is not None:
        header |= {"fold": fold, "test_groups": chosen.test_groups}
    root = export_classes(frames, out, header)
    n_crack = len(frames.positives())
    where = "" if fold is None else f" of fold {fold}"
    click.echo(f"wrote {len(frames)} {part} frames{where} ({n_crack} crack, {len(frames) - n_crack} sane; "
               f"groups {', '.join(frames.groups())}) to {root}")
