"""Group split (specimens never straddle train/test) and the leakage check."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from benchbench.api import Frame, FrameSet, UserError
from benchbench.data.split import check_no_leakage, split_frames

ZIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "flyd-s" / "FLYD-S-trainval.zip"


def _frames(groups: dict[str, int], pos_every: int = 3) -> FrameSet:
    out = []
    k = 0
    for g, n in groups.items():
        for i in range(n):
            img = np.full((4, 4), k % 251, np.uint8)  # distinct content per frame
            img[0, 0] = k // 251
            out.append(Frame(None, 4, 4, "crack" if i % pos_every == 0 else "sane", (), g, image=img,
                             meta={"name": f"x-{g}_scan-{i:03d}"}))
            k += 1
    return FrameSet(out, "t")


def test_split_by_group_deterministic():
    fs = _frames({f"Sample{i}": 10 + 3 * i for i in range(1, 9)})
    train, test = split_frames(fs, test_fraction=0.3, seed=0)
    assert set(train.groups()).isdisjoint(test.groups())
    assert len(train) + len(test) == len(fs)
    assert abs(len(test) / len(fs) - 0.3) < 0.1
    assert {f.label for f in test} == {"crack", "sane"}
    again = split_frames(fs, test_fraction=0.3, seed=0)
    assert [f.meta["name"] for f in again[1]] == [f.meta["name"] for f in test]
    others = {tuple(split_frames(fs, seed=s)[1].groups()) for s in range(6)}
    assert len(others) > 1  # the seed matters
    check_no_leakage(train, test)


def test_explicit_test_groups_and_regex():
    fs = _frames({"default": 12})  # names still carry the specimen in a different spelling
    fs = FrameSet([Frame(None, 4, 4, f.label, (), "default", image=f.image,
                         meta={"name": f"part{i % 4}-scan"}) for i, f in enumerate(fs)])
    with pytest.raises(UserError) as exc:
        split_frames(fs)
    assert "only one group" in str(exc.value) and "group_regex" in str(exc.value)
    train, test = split_frames(fs, group_regex=r"part\d", test_groups=["part3"])
    assert test.groups() == ["part3"] and "part3" not in train.groups() and len(test) == 3
    with pytest.raises(UserError, match="not in the data"):
        split_frames(fs, group_regex=r"part\d", test_groups=["part9"])
    with pytest.raises(UserError, match="nothing left to train"):
        split_frames(fs, group_regex=r"part\d", test_groups=["part0", "part1", "part2", "part3"])
    with pytest.raises(UserError, match="test_fraction"):
        split_frames(fs, group_regex=r"part\d", test_fraction=1.5)


def test_leakage_check_rejects_shared_group_and_duplicate_image():
    fs = _frames({"A": 4, "B": 4})
    with pytest.raises(UserError, match=r"\['A'\] are in both train and test"):
        check_no_leakage(fs[:3], fs[2:4])
    dup = Frame(None, 4, 4, "sane", (), "B", image=fs[0].image.copy(), meta={"name": "copy-of-A0"})
    with pytest.raises(UserError, match="identical image"):
        check_no_leakage(fs[:4], FrameSet([dup]))
    # Synthetic frames in train belong to no real specimen: their group never counts as leakage.
    synth = Frame(None, 4, 4, "crack", (), "B", "synthetic:physics", image=np.full((4, 4), 250, np.uint8))
    check_no_leakage(fs[:4] + FrameSet([synth]), fs[4:])


@pytest.mark.skipif(not ZIP.is_file(), reason="FLYD-S archive not available")
def test_real_flyd_s_split_by_specimen(tmp_path):
    from benchbench.data.flyd import FlydDataset

    with zipfile.ZipFile(ZIP) as zf:
        zf.extractall(tmp_path)
    fs = FlydDataset(tmp_path / "dataset_flyd").load()
    train, test = split_frames(fs, test_fraction=0.3, seed=1)
    assert set(train.groups()).isdisjoint(test.groups()) and len(test.groups()) >= 1
    check_no_leakage(train, test)
    with pytest.raises(UserError, match="in both train and test"):
        check_no_leakage(fs[:200], fs[100:])
