"""Feature extractors: the hook, the physics descriptor, the in-project CNN, local-path DINOv2 and Inception."""


import numpy as np
import pytest

from benchbench.analysis.genscore.features import PhysicsDescriptor
from benchbench.analysis.genscore.score import SynthSet, score_sets
from benchbench.api import FrameSet, UserError
from benchbench.data.simulate import simulate_frames
from benchbench.hookspecs import hookimpl
from benchbench.method.scores import ScoresSpec
from benchbench.plugins import get_plugins


@pytest.fixture(scope="module")
def frames():
    return simulate_frames(60, 0, 96)


class MeanGrey:
    name, version = "mean-grey", "1"

    def fingerprint(self):
        return "mean-grey-1"

    def embed(self, frames):
        return np.array([[f.load().mean(), f.load().std()] for f in frames])


def test_hook_register_feature_extractors(frames, tmp_path):
    class P:
        @hookimpl
        def benchbench_register_feature_extractors(self, register):
            register("mean-grey", MeanGrey)

    pl = get_plugins()
    pl.register(P(), "p")
    assert pl.registry("feature_extractors").get("mean-grey").plugin == "p"
    train, test = frames[:40], frames[40:]
    syn = SynthSet({"crack": train.positives(), "sane": train.negatives()}, {"crack": "c", "sane": "s"})
    spec = ScoresSpec(extractors=[{"name": "mg", "plugin": "mean-grey"}])
    out = score_sets(train, test, {"copy": syn}, spec, pl, cache_root=tmp_path)
    assert out["extractors"]["mg"]["plugin"] == "mean-grey" and out["errors"] == []
    sc = out["sets"][0]["scores"]["mg"]["crack"]
    assert sc["fd"] == pytest.approx(0.0, abs=1e-9) and sc["precision"] == 1.0  # the training frames themselves
    assert out["sets"][0]["memorisation"]["mg"]["train"]["exact_copies"] == len(train)
    assert list((tmp_path / "features").rglob("*.npy"))  # features cached


def test_builtin_extractors_register_lazily():
    reg = get_plugins().registry("feature_extractors")
    assert {"physics", "cnn", "inception", "dinov2"} <= set(reg.entries)
    assert all(isinstance(e.target, str) for e in reg)


def test_physics_descriptor_sees_the_crack(frames):
    d = PhysicsDescriptor(size=48)
    feats = d.embed(frames)
    assert feats.shape == (len(frames), d.dim) and np.isfinite(feats).all()
    assert np.array_equal(feats, d.embed(frames))  # fixed: no training, no randomness
    band = feats[:, -(2 * 4 + 3)]  # band strength: first value of the band block
    crack = np.array([f.label == "crack" for f in frames])
    assert np.median(band[crack]) > np.median(band[~crack])


def test_cnn_learns_crack_vs_sane_and_records_its_frames(frames):
    pytest.importorskip("torch")
    from benchbench.analysis.genscore.cnn import CrackCNN

    cnn = CrackCNN(size=48, width=8, epochs=12)
    with pytest.raises(RuntimeError, match="fitted"):
        cnn.embed(frames)
    cnn.fit(frames, seed=0)
    assert cnn.trained_on == [f.stem for f in frames]
    assert cnn.train_accuracy > 0.8  # measured 0.95-1.00 over seeds 0-4 (chance: 0.5)
    feats = cnn.embed(frames)
    assert feats.shape == (len(frames), 32)
    again = CrackCNN(size=48, width=8, epochs=12)
    again.fit(frames, seed=0)
    assert np.allclose(again.embed(frames), feats)  # seeded: same frames, same features
    with pytest.raises(UserError, match="crack and sane"):
        CrackCNN().fit(frames.positives())


def test_dinov2_from_a_local_folder(frames, tmp_path):
    transformers = pytest.importorskip("transformers")
    from benchbench.analysis.genscore.pretrained import Dinov2Extractor

    cfg = transformers.Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                    image_size=28, patch_size=14)
    transformers.Dinov2Model(cfg).save_pretrained(tmp_path / "dino")
    ext = Dinov2Extractor(str(tmp_path / "dino"))
    feats = ext.embed(frames[:5])
    assert feats.shape == (5, 16) and np.isfinite(feats).all()
    assert len(ext.fingerprint()) == 64


def test_pretrained_extractors_need_an_existing_local_path(tmp_path):
    from benchbench.analysis.genscore.pretrained import Dinov2Extractor, InceptionExtractor

    with pytest.raises(UserError, match="scores.extractors.path.*never downloads"):
        Dinov2Extractor(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="no config.json"):
        Dinov2Extractor(str(tmp_path))
    with pytest.raises(UserError, match="scores.extractors.weights.*never downloads"):
        InceptionExtractor(str(tmp_path / "inception.pth"))
    with pytest.raises(UserError, match="state dict file"):
        InceptionExtractor(str(tmp_path))


@pytest.mark.slow
def test_inception_from_a_local_state_dict(frames, tmp_path):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    from benchbench.analysis.genscore.pretrained import InceptionExtractor

    path = tmp_path / "inception.pth"
    torch.save(models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    feats = InceptionExtractor(str(path)).embed(frames[:2])
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()


def test_unknown_extractor_is_reported_not_raised(frames, tmp_path):
    spec = ScoresSpec(extractors=[{"name": "physics"}, {"name": "dinov2", "path": str(tmp_path / "nope")}])
    syn = SynthSet({"crack": frames.positives()[:10], "sane": FrameSet([])}, {"crack": "c"})
    out = score_sets(frames[:40], frames[40:], {"s": syn}, spec, get_plugins(), cache_root=None)
    assert "physics" in out["sets"][0]["scores"] and "dinov2" not in out["sets"][0]["scores"]
    assert len(out["errors"]) == 1 and "never downloads" in out["errors"][0]


def test_cap_keeps_generated_prefixes_and_spreads_real_frames(frames):
    from benchbench.analysis.genscore.score import cap

    assert [f.stem for f in cap(frames, 5, prefix=True)] == [f.stem for f in frames[:5]]
    spread = cap(frames, 5)
    assert len(spread) == 5 and spread[0].stem == frames[0].stem and spread[-1].stem == frames[-1].stem
    assert cap(frames, 1000) is frames
