"""The per-image seeded generation loop and the generator built around it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.diffusion.images import to_frame_images
from benchbench.diffusion.seeding import image_seed
from benchbench.errors import UserError
from benchbench.frames import Frame
from benchbench.metrics.masks import resize_mask
from benchbench.protocols import CellContext, GenerationRequest


def generate_frames(sample: Callable[[list[Any]], np.ndarray], req: GenerationRequest, *, name: str,
                    batch: int, channels: int = 1,
                    report: Callable[[str, float | None], None] | None = None,
                    masks: Callable[[list[int]], np.ndarray] | None = None) -> list[Frame]:
    """The per-image seeded generation loop shared by diffusion generators.

    ``sample(generators)`` runs the pipeline once for ``len(generators)`` images, image k
    drawing all of its noise from ``generators[k]`` (diffusers accepts such a list), and
    returns (B, H, W, C) floats in [0, 1]. Returns frames ``req.start_index .. +req.n-1``
    at ``req.size``.

    Exactness: frame i's generator is seeded by :func:`image_seed` (req.seed, req.label, i),
    and frames are computed in aligned groups ``[k*batch, (k+1)*batch)`` (images outside
    the request are computed and dropped). Seeds alone are not enough: CPU and GPU kernels
    choose their algorithm by tensor shape (e.g. a batch-1 Linear is a matrix-vector
    product), which changes the last float bits and now and then one grey level. With
    aligned groups frame i is bit-identical whatever ``n`` and ``start_index`` for a given
    ``batch``; ``batch=1`` computes every image alone. Generators therefore put ``batch``
    in their fingerprint.

    ``masks(indices)``, when given, returns the (B, h, w) bool crack masks the frames of those indices are
    drawn around (a mask-conditioned generator); ``sample`` is then called as ``sample(generators, masks)``
    and each frame carries its mask resized to the frame in ``meta["mask"]``, where ``labeler: mask`` takes
    its boxes from.
    """
    import torch

    if batch < 1:
        raise UserError("batch must be at least 1", field="batch", fix="set batch: 1 or more")
    frames: list[Frame] = []
    first, stop = req.start_index, req.start_index + req.n
    for lo in range(first - first % batch, stop, batch):
        group = list(range(lo, lo + batch))
        gens = [torch.Generator(device="cpu").manual_seed(image_seed(req.seed, req.label, i)) for i in group]
        drawn = None if masks is None else np.asarray(masks(group), dtype=bool)
        with torch.inference_mode():
            images = sample(gens) if drawn is None else sample(gens, drawn)
        keep = [(k, i, img) for k, (i, img) in enumerate(zip(group, images, strict=True)) if first <= i < stop]
        converted = to_frame_images([img for _, _, img in keep], channels=channels, size=req.size)
        for (k, i, _), img in zip(keep, converted, strict=True):
            meta: dict[str, Any] = {"name": f"{name}-{req.label}-{req.seed}-{i:06d}"}
            if drawn is not None:
                meta["mask"] = drawn[k] if drawn[k].shape == img.shape[:2] else \
                    resize_mask(drawn[k], img.shape[1], img.shape[0])
            frames.append(Frame(
                path=None, width=int(img.shape[1]), height=int(img.shape[0]), label=req.label,
                boxes=None if req.label == "crack" else (), source=f"synthetic:{name}", image=img, meta=meta))
        if report is not None:
            report(f"generate {req.label} {len(frames)}/{req.n}", len(frames) / max(req.n, 1))
    return frames


def check_output_params(*, channels: Any, batch: Any, device: Any, dtype: Any) -> None:
    """Validate the parameters every generator plugin shares (one-line user errors naming the field)."""
    if channels not in (1, 3):
        raise UserError(f"channels must be 1 or 3, not {channels!r}", field="channels")
    if not isinstance(batch, int) or batch < 1:
        raise UserError(f"batch must be a positive integer, not {batch!r}", field="batch")
    if device is not None and not isinstance(device, str):
        raise UserError(f"expected a device name, not {device!r}", field="device",
                        fix="use cpu, cuda, cuda:1 or auto")
    if dtype not in ("auto", "float32", "float16", "bfloat16"):
        raise UserError(f"unknown dtype '{dtype}'", field="dtype", fix="use auto, float32, float16 or bfloat16")


class PipelineGenerator(ABC):
    """A Generator drawing each class from a diffusers pipeline folder, through :func:`generate_frames`.

    A subclass sets ``name``/``version``, checks its own parameters, calls ``super().__init__``
    with ``folders`` (label -> pipeline folder; labels may share one) and the output parameters,
    and implements ``_load`` and ``_sampler``. Each folder is loaded once, on first use, on the
    ``device`` parameter or else the cell's device.
    """

    name: str

    def __init__(self, folders: dict[str, Path], *, channels: int, batch: int, device: str | None, dtype: str):
        check_output_params(channels=channels, batch=batch, device=device, dtype=dtype)
        self.folders = folders
        self.channels, self.batch, self.device, self.dtype = channels, batch, device, dtype
        self._pipes: dict[Path, Any] = {}

    @abstractmethod
    def _load(self, folder: Path, device: str) -> Any:
        """The pipeline saved in ``folder``, on ``device``."""

    @abstractmethod
    def _sampler(self, pipe: Any, req: GenerationRequest) -> Callable[[list[Any]], np.ndarray]:
        """The ``sample`` function of :func:`generate_frames` for ``req`` with ``pipe``."""

    def generate(self, req: GenerationRequest, ctx: CellContext) -> list[Frame]:
        if req.label not in self.folders:
            raise UserError(f"unknown label '{req.label}'", fix="ask for crack or sane frames")
        if req.n <= 0:
            return []  # before loading: an empty request must not cost a pipeline load
        masks = self._masks(req)  # before loading: a request it cannot serve must not cost a pipeline load
        sample = self._sampler(self.pipeline(req.label, ctx), req)
        return generate_frames(sample, req, name=self.name, batch=self.batch, channels=self.channels,
                               report=ctx.report, masks=masks)

    def _masks(self, req: GenerationRequest) -> Callable[[list[int]], np.ndarray] | None:
        """The ``masks`` of :func:`generate_frames` for ``req``: none, unless the generator draws its frames
        around crack masks."""
        return None

    def training_manifest(self) -> dict[str, Any] | None:
        """What the weights of every class were trained on (``bench train`` writes it), or None: provenance
        unknown."""
        from benchbench.data.provenance import generator_manifest

        return generator_manifest(self.folders.values())

    def pipeline(self, label: str, ctx: CellContext | None = None) -> Any:
        """The loaded pipeline of class ``label``."""
        folder = self.folders[label]
        if folder not in self._pipes:
            from benchbench.torchkit import torch_device

            device = torch_device(self.device or (ctx.device if ctx is not None else None))
            self._pipes[folder] = self._load(folder, device)
        return self._pipes[folder]
