"""`bench data fetch flyd-s --from-zip`: verify, unpack, print the matrix snippet (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from benchbench.api import UserError
from benchbench.commands.data import data
from benchbench.data.fetch import fetch_flyd_s, verify_archive

ZIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flyd-s" / "FLYD-S-trainval.zip"
needs_zip = pytest.mark.skipif(not ZIP.is_file(), reason=f"FLYD-S archive not available at {ZIP}")


@needs_zip
def test_fetch_from_zip(tmp_path):
    lines: list[str] = []
    root = fetch_flyd_s(tmp_path / "d", ZIP, report=lines.append)
    assert root == tmp_path / "d" / "dataset_flyd"
    assert sorted(p.name for p in root.iterdir()) == ["train", "val"]
    assert any("train+val archive" in s for s in lines)
    assert verify_archive(ZIP).kind == "trainval"
    lines.clear()
    assert fetch_flyd_s(tmp_path / "d", ZIP, report=lines.append) == root  # idempotent
    assert any("already unpacked" in s for s in lines)


@needs_zip
def test_cli_prints_matrix_snippet(tmp_path):
    res = CliRunner().invoke(data, ["fetch", "flyd-s", "--dest", str(tmp_path / "x"), "--from-zip", str(ZIP)])
    assert res.exit_code == 0, res.output
    assert f"data: {{dataset: flyd, root: {tmp_path / 'x' / 'dataset_flyd'}, layout: masks}}" in res.output


def test_wrong_archive_refused(tmp_path):
    bad = tmp_path / "FLYD-S.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UserError) as exc:
        fetch_flyd_s(tmp_path / "d", bad)
    msg = str(exc.value)
    assert "not a known FLYD-S archive" in msg and "2cd7d8cedd52" in msg and "46a540a8baf2" in msg
    with pytest.raises(UserError, match="archive not found"):
        fetch_flyd_s(tmp_path / "d", tmp_path / "nope.zip")
