"""Generated frames are cached per requested size: two runs sharing a cache, one on 64-px frames and
one on 96-px frames, must each get frames of their own size (they used to get each other's)."""

from __future__ import annotations

from PIL import Image

from benchbench.pipeline.jobs import GenJob, run_generation_job
from benchbench.pipeline.planner import GenTask
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


def test_materialised_simulated_frames_keep_their_scene_for_the_mask_scores(tmp_path):
    from benchbench.data.simulate import simulate_frames
    from benchbench.frames import FrameSet
    from benchbench.method.evaluation import evaluate_predictions
    from benchbench.metrics.masks import frame_mask
    from benchbench.records.cache import Cache

    frames = FrameSet(simulate_frames(6, 0, size=64), "test")
    for cache_state in ("empty", "filled"):  # written now, then read back from the cache
        stored = Cache(tmp_path / "cache").materialize(frames, "ns")
        assert [f.path is not None for f in stored] == [True] * 6, cache_state
        for f, mine in zip(frames, stored, strict=True):
            assert (frame_mask(mine) == frame_mask(f)).all(), cache_state
    out = evaluate_predictions(stored, [list(f.boxes) for f in stored], iou_thresholds=[0.1], n_boot=0)
    assert out["masks"]["crack_recall"]["value"] == 1.0 and out["masks"]["hit_AP"]["value"] == 1.0
