"""``bench data fetch flyd-s``: get the public FLYD-S archive, verify it, unpack it.

Two archives are accepted, each checked by sha256 (and by size where it is published):
the full public archive (train/val/test, 701 frames) and the train+val subset shipped with
the project's shared data (323 frames, specimens Sample1-5 and 8).
"""

from __future__ import annotations

import os
import shutil
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchbench.data.flyd import masks_splits
from benchbench.errors import UserError
from benchbench.hashing import file_sha256


@dataclass(frozen=True)
class Archive:
    kind: str
    description: str
    sha256: str
    size: int | None  # bytes (the train+val size is measured on the shared copy); None: not checked


ARCHIVES = (
    Archive("full", "FLYD-S full archive (train/val/test, 701 frames)",
            "2cd7d8cedd52d0fec4fd50f8a371079ff3742bc286202a564dbec1e882b6be26", 2_715_415),
    Archive("trainval", "FLYD-S train+val archive (323 frames, Sample1-5 and 8)",
            "46a540a8baf2e2b9f06016ab7703d873dc6cc9093a149cc188e43316d6b8becd", 1_192_327),
)
URLS = (
    "https://raw.githubusercontent.com/kevinhelvig/FLYD/main/FLYD-S/FLYD-S.zip",
    "https://raw.githubusercontent.com/kevinhelvig/FLYD/master/FLYD-S/FLYD-S.zip",
)
MARKER = ".benchbench-fetch"


def verify_archive(path: Path) -> Archive:
    """Which known archive ``path`` is; UserError naming size and digest when it is none of them."""
    if not path.is_file():
        raise UserError("archive not found", file=path,
                        fix="give the path of FLYD-S.zip (or drop --from-zip to download)")
    size = path.stat().st_size
    digest = file_sha256(path)
    for arc in ARCHIVES:
        if digest == arc.sha256 and (arc.size is None or arc.size == size):
            return arc
    expected = "; ".join(f"{a.kind}: sha256 {a.sha256[:12]}…" + (f", {a.size:,} bytes" if a.size else "")
                         for a in ARCHIVES)
    raise UserError(f"not a known FLYD-S archive ({size:,} bytes, sha256 {digest[:12]}…; expected {expected})",
                    file=path, fix="download it again (a partial or modified file fails this check)")


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    base = dest.resolve()
    for info in zf.infolist():
        target = (dest / info.filename).resolve()
        if not target.is_relative_to(base):
            raise UserError(f"archive member {info.filename!r} would be written outside {dest}",
                            fix="use the original archive")
    zf.extractall(dest)


def dataset_root(dest: Path) -> Path:
    """The folder that holds the split folders (``dataset_flyd`` in the archive)."""
    for cand in [dest / "dataset_flyd", dest] + sorted(p for p in dest.iterdir() if p.is_dir()):
        splits = masks_splits(cand)
        if splits and all(v.parent == cand for v in splits.values()):
            return cand
    raise UserError("unpacked archive has no <split>/images + <split>/masks folders", file=dest,
                    fix="check the archive; it should contain dataset_flyd/{train,val,test}/{images,masks}")


def download(dest_zip: Path, report: Callable[[str], None] = lambda s: None) -> Path:
    """Download FLYD-S.zip from the public GitHub repository (urllib; nothing else needed)."""
    dest_zip.parent.mkdir(parents=True, exist_ok=True)
    part = dest_zip.with_suffix(".zip.part")
    errors = []
    for url in URLS:
        report(f"downloading {url}")
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
                shutil.copyfileobj(resp, out)
            os.replace(part, dest_zip)
            return dest_zip
        except OSError as exc:  # URLError is an OSError
            errors.append(f"{url}: {exc}")
            part.unlink(missing_ok=True)
    raise UserError("could not download FLYD-S (" + "; ".join(errors) + ")",
                    fix="download FLYD-S/FLYD-S.zip from github.com/kevinhelvig/FLYD by hand and pass --from-zip")


def fetch_flyd_s(dest: str | os.PathLike, from_zip: str | os.PathLike | None = None, *,
                 report: Callable[[str], None] | None = None) -> Path:
    """Verify (size + sha256), unpack into ``dest`` and return the dataset root (``dest/dataset_flyd``).

    ``report`` receives human-readable progress lines (which archive was recognised, where it went).
    Unpacking is skipped when ``dest`` already holds the same verified archive.
    """
    say = report or (lambda s: None)
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = Path(from_zip).expanduser() if from_zip is not None else download(dest / "FLYD-S.zip", say)
    arc = verify_archive(zip_path)
    say(f"verified {zip_path}: {arc.description} (sha256 {arc.sha256[:12]}…)")
    marker = dest / MARKER
    if marker.is_file() and marker.read_text().strip() == arc.sha256:
        say(f"already unpacked in {dest}")
        return dataset_root(dest)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            _safe_extract(zf, dest)
    except zipfile.BadZipFile as exc:
        raise UserError(f"bad zip file ({exc})", file=zip_path, fix="download it again") from None
    marker.write_text(arc.sha256 + "\n")
    root = dataset_root(dest)
    say(f"unpacked to {root}")
    return root


def matrix_snippet(root: Path) -> str:
    return f"data: {{dataset: flyd, root: {root}, layout: masks}}"
