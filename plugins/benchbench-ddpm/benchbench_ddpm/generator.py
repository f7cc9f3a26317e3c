"""Unconditional DDPM generator: one diffusers DDPMPipeline folder per class.

Construction only validates parameters and folders; torch and diffusers are imported
when frames are first generated. Guidance does not apply (registered with
``uses_guidance=False``): ``req.guidance`` is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchbench import diffusion
from benchbench.api import GenerationRequest, UserError, sha256_json
from benchbench_ddpm import __version__
from benchbench_ddpm.model import CLASSES

DEFAULT_STEPS = {"ddpm": None, "ddim": 50}  # None: all training timesteps (ancestral DDPM sampling)


class DdpmGenerator(diffusion.PipelineGenerator):
    """Frames from one unconditional DDPM per class (local diffusers folders).

    Parameters (the matrix entry):
        weights: folder holding ``crack/`` and ``sane/`` pipeline folders (``bench train ddpm``);
        crack, sane: the two pipeline folders given one by one (instead of weights);
        sampler: ddpm (ancestral) | ddim (deterministic after the initial noise, with eta 0);
        steps: sampling steps (default: every training timestep for ddpm, 50 for ddim);
        eta: DDIM noise scale (0 = deterministic);
        channels: 1 = grey content on 3 channels like the real frames, 3 = model colours;
        device: None = the cell's device; dtype: auto|float32|float16|bfloat16;
        batch: images per sampling call (in the fingerprint: kernels pick algorithms by batch shape).
    Frames come at the model's resolution and are resized to the size the harness asks for.
    """

    name = "ddpm"
    version = __version__

    def __init__(self, weights: str | os.PathLike | None = None, crack: str | os.PathLike | None = None,
                 sane: str | os.PathLike | None = None, sampler: str = "ddpm", steps: int | None = None,
                 eta: float = 0.0, channels: int = 1, device: str | None = None, dtype: str = "auto",
                 batch: int = 16):
        folders = diffusion.class_folders(
            weights, {"crack": ("crack", crack), "sane": ("sane", sane)}, split=_class_pipelines,
            weights_hold="a folder with crack/ and sane/",
            fix="set weights: to the folder written by `bench train ddpm` (or crack: and sane:)")
        check_sampling(sampler, steps, eta)
        super().__init__(folders, channels=channels, batch=batch, device=device, dtype=dtype)
        self.sampler, self.steps, self.eta = sampler, steps, float(eta)
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ protocol
    def params(self) -> dict[str, Any]:
        return {"folders": {k: str(v) for k, v in self.folders.items()}, "sampler": self.sampler,
                "steps": self.steps, "eta": self.eta, "channels": self.channels, "dtype": self.dtype,
                "device": self.device, "batch": self.batch}

    def fingerprint(self) -> str:
        """Hash of both pipelines' weights + configs and of every parameter that changes pixels."""
        if self._fingerprint is None:
            self._fingerprint = sha256_json({
                "plugin": self.name,
                "weights": {label: diffusion.pipeline_fingerprint(f) for label, f in self.folders.items()},
                "sampler": self.sampler, "steps": self.steps, "eta": self.eta if self.sampler == "ddim" else None,
                "channels": self.channels, "dtype": self.dtype, "batch": self.batch})
        return self._fingerprint

    # ------------------------------------------------------------------ PipelineGenerator
    def _load(self, folder: Path, device: str) -> Any:
        return load_pipeline(folder, sampler=self.sampler, device=device, dtype=self.dtype)

    def _sampler(self, pipe: Any, req: GenerationRequest) -> Callable[[list[Any]], Any]:
        steps = self.steps or DEFAULT_STEPS[self.sampler] or pipe.scheduler.config.num_train_timesteps
        kwargs: dict[str, Any] = {"num_inference_steps": steps, "output_type": "np"}
        if self.sampler == "ddim":
            kwargs["eta"] = self.eta

        def sample(generators: list[Any]) -> Any:
            return pipe(batch_size=len(generators), generator=generators, **kwargs).images

        return sample


def check_sampling(sampler: Any, steps: Any, eta: Any) -> None:
    """The sampler parameters both DDPM generators take, or a one-line user error naming the field."""
    if sampler not in DEFAULT_STEPS:
        raise UserError(f"unknown sampler '{sampler}'", field="sampler", fix="use ddpm or ddim")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise UserError(f"steps must be a positive integer, not {steps!r}", field="steps")
    if not isinstance(eta, (int, float)) or eta < 0:
        raise UserError(f"eta must be >= 0, not {eta!r}", field="eta")


def _class_pipelines(weights: str | os.PathLike) -> dict[str, Path]:
    """The crack/ and sane/ pipelines of a ``bench train ddpm`` folder."""
    root = Path(weights).expanduser()
    if not root.is_dir():
        raise UserError(f"weights not found at {root}", field="weights",
                        fix="give the folder written by `bench train ddpm` (benchbench never downloads)")
    return {label: diffusion.require_pipeline_dir(root / label, field=f"weights ({label}/)") for label in CLASSES}


def load_pipeline(folder: str | os.PathLike, *, sampler: str = "ddpm", device: str = "cpu",
                  dtype: str = "float32") -> Any:
    """Load a local DDPMPipeline; with ``sampler='ddim'`` wrap its UNet in a DDIMPipeline."""
    from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline

    try:
        with diffusion.quiet_loading():
            pipe = DDPMPipeline.from_pretrained(str(folder), local_files_only=True,
                                                dtype=diffusion.torch_dtype(dtype, device))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a DDPM pipeline from {folder}: {str(exc).splitlines()[0]}",
                        fix="check the folder was written by `bench train ddpm` or init-tiny") from None
    if sampler == "ddim":
        pipe = DDIMPipeline(unet=pipe.unet, scheduler=DDIMScheduler.from_config(pipe.scheduler.config))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
