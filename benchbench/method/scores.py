"""The ``scores:`` section of a matrix (pydantic only, imported by :mod:`benchbench.method.matrix`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExtractorSpec(BaseModel):
    """One feature extractor: ``name``, optional ``plugin`` (default: the name) and its parameters."""

    model_config = ConfigDict(extra="allow")  # the extra keys are the extractor's parameters
    name: str
    plugin: str | None = None


def _default_extractors() -> list[ExtractorSpec]:
    return [ExtractorSpec(name="physics"), ExtractorSpec(name="cnn")]


class ScoresSpec(BaseModel):
    """Generator scores computed at the end of ``bench run`` (docs/generators.md)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    extractors: list[ExtractorSpec] = Field(default_factory=_default_extractors)
    k: int = Field(5, ge=1)  # neighbours of the PRDC manifolds
    max_frames: int = Field(1000, ge=10)  # per class and set: caps the O(n²) distances
    near_copy: float = Field(0.1, gt=0, lt=1)  # near-copy: NN distance below this share of the real scale
    pixel_size: int = Field(32, ge=4)  # side of the grey thumbnails compared in pixel space
    gain_metrics: list[str] = Field(default_factory=lambda: ["mAP50", "AP10"])
    bootstrap: int = Field(1000, ge=0)  # resamples for the Spearman CIs
    closest_pairs: int = Field(6, ge=0)  # rows of the closest-pairs grid per generated set
