"""Generated frames are cached per requested size: two runs sharing a cache, one on 64-px frames and
one on 96-px frames, must each get frames of their own size (they used to get each other's)."""

from __future__ import annotations

from PIL import Image

from benchbench.jobs import GenJob, run_generation_job
from benchbench.planner import GenTask
from benchbench.plugins import PluginRef


def _job(tmp_path, size: int) -> GenJob:
    task = GenTask("physics", None, 0, 2, 2)
    gid = {"plugin": "physics", "version": "x", "fingerprint": "f", "params": {}}
    return GenJob(task, PluginRef("generators", "physics", "physics"), gid, tmp_path / "cache",
                  tmp_path / f"work{size}", size)


def test_two_sizes_sharing_a_cache_get_their_own_frames(tmp_path):
    small = run_generation_job(_job(tmp_path, 64))
    big = run_generation_job(_job(tmp_path, 96))
    assert big["generated"] == 4 and big["cached"] == 0, "the 96-px run was served the 64-px frames"
    for out, size in ((small, 64), (big, 96)):
        for paths in out["frames"].values():
            assert {Image.open(p).size for p in paths} == {(size, size)}
    again = run_generation_job(_job(tmp_path, 64))
    assert again["cached"] == 4 and again["generated"] == 0
