"""Class-conditional DDPM generator with classifier-free guidance (``ddpm-guided``).

One network (``bench train ddpm --guided``) predicts the noise for a class c and for the null
class; the guided prediction is ``eps_null + w * (eps_c - eps_null)`` (Ho & Salimans 2022, the form
Stable Diffusion's ``guidance_scale`` uses): w = 0 samples the unconditional model, w = 1 the
conditional one, w > 1 pushes the frames towards what tells the class apart. ``w`` is the
matrix's ``guidance`` axis value, or the ``guidance`` parameter without that axis.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchbench import diffusion
from benchbench.api import GenerationRequest, UserError, sha256_json
from benchbench_ddpm import __version__
from benchbench_ddpm.generator import DEFAULT_STEPS, check_sampling, load_pipeline
from benchbench_ddpm.model import CLASSES, GUIDED, NULL_CLASS

DEFAULT_GUIDANCE = 3.0  # used when the matrix has no guidance axis
# Ancestral sampling over 50 strided timesteps: on FLYD-S fold 0 (2,000 training steps) it draws smooth
# frames in the time DDIM takes, while deterministic DDIM (eta 0) leaves a grain that more DDIM steps
# make worse (plugin README, "Sampler"), so ddpm/50 is the default rather than the diffusers habit.
DEFAULT_SAMPLER, DEFAULT_SAMPLING_STEPS = "ddpm", 50


class GuidedDdpmGenerator(diffusion.PipelineGenerator):
    """Frames of both classes from one class-conditional DDPM, guided by the request's scale.

    Parameters (the matrix entry):
        weights: the folder written by ``bench train ddpm --guided`` (holding ``guided/``),
            or the ``guided/`` pipeline folder itself;
        sampler, steps: ``ddpm`` (ancestral) over 50 strided timesteps by default (see DEFAULT_SAMPLER);
        eta, channels, device, dtype, batch: as for ``ddpm``;
        guidance: the scale w when the matrix has no guidance axis (default 3).
    """

    name = "ddpm-guided"
    version = __version__
    reads_mask = False  # the model reads no crack mask (ddpm-masked's does)

    def __init__(self, weights: str | os.PathLike | None = None, sampler: str = DEFAULT_SAMPLER,
                 steps: int | None = DEFAULT_SAMPLING_STEPS,
                 eta: float = 0.0, guidance: float = DEFAULT_GUIDANCE, channels: int = 1,
                 device: str | None = None, dtype: str = "auto", batch: int = 16):
        if weights is None:
            raise UserError("no weights given", field="weights",
                            fix="set weights: to the folder written by `bench train ddpm --guided`")
        root = Path(weights).expanduser()
        folder = root / GUIDED if (root / GUIDED).is_dir() else root
        folder = diffusion.require_pipeline_dir(folder, field="weights")
        check_sampling(sampler, steps, eta)
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or guidance < 0:
            raise UserError(f"guidance must be a number >= 0, not {guidance!r}", field="guidance")
        super().__init__({label: folder for label in CLASSES}, channels=channels, batch=batch, device=device,
                         dtype=dtype)
        self.sampler, self.steps, self.eta, self.guidance = sampler, steps, float(eta), float(guidance)
        self._fingerprint: str | None = None

    def params(self) -> dict[str, Any]:
        return {"weights": str(self.folders["crack"]), "sampler": self.sampler, "steps": self.steps,
                "eta": self.eta, "guidance": self.guidance, "channels": self.channels, "dtype": self.dtype,
                "device": self.device, "batch": self.batch}

    def fingerprint(self) -> str:
        """Hash of the weights and of every parameter that changes pixels (the request's guidance is
        in the generation task's key; the default scale is here because it stands in for it)."""
        if self._fingerprint is None:
            self._fingerprint = sha256_json({
                "plugin": self.name, "weights": diffusion.pipeline_fingerprint(self.folders["crack"]),
                "sampler": self.sampler, "steps": self.steps, "eta": self.eta if self.sampler == "ddim" else None,
                "guidance": self.guidance, "channels": self.channels, "dtype": self.dtype, "batch": self.batch})
        return self._fingerprint

    def _load(self, folder: Path, device: str) -> Any:
        pipe = load_pipeline(folder, sampler=self.sampler, device=device, dtype=self.dtype)
        if pipe.unet.config.num_class_embeds != NULL_CLASS + 1:
            raise UserError(f"{folder} holds a model without the {NULL_CLASS + 1} class embeddings of a guided "
                            "DDPM", field="weights", fix="train it with `bench train ddpm --guided`")
        if diffusion.takes_mask(pipe.unet) != self.reads_mask:
            has = "with" if diffusion.takes_mask(pipe.unet) else "without"
            raise UserError(f"{folder} holds a model {has} a crack mask input", field="weights",
                            fix="use plugin ddpm-masked for a model trained with --mask, ddpm-guided for one without")
        return pipe

    def _sampler(self, pipe: Any, req: GenerationRequest) -> Callable[[list[Any]], Any]:
        scale = self.guidance if req.guidance is None else float(req.guidance)
        steps = self.steps or DEFAULT_STEPS[self.sampler] or pipe.scheduler.config.num_train_timesteps
        extra = {"eta": self.eta} if self.sampler == "ddim" else {}
        return lambda generators, mask=None: guided_sample(pipe.unet, pipe.scheduler, CLASSES.index(req.label),
                                                           scale, steps, generators, mask=mask, **extra)


def guided_sample(unet: Any, scheduler: Any, label: int, scale: float, steps: int, generators: list[Any],
                  mask: Any = None, **step_kwargs: Any) -> Any:
    """(B, H, W, C) floats in [0, 1]: the diffusers DDPM/DDIM loop with the guided noise prediction.

    Image k draws all of its noise from ``generators[k]``; the conditional and unconditional
    predictions come from one doubled batch (scale 1 needs only the conditional one). A model that
    takes a mask gets ``mask`` ((B, H, W) bool, none: empty) beside the image in the conditional branch
    and an empty one in the unconditional branch, as it was trained.
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    n, size, ch = len(generators), int(unet.config.sample_size), int(unet.config.out_channels)
    x = randn_tensor((n, ch, size, size), generator=generators, device=unet.device, dtype=unet.dtype)
    scheduler.set_timesteps(steps)
    cond = torch.full((n,), label, device=unet.device)
    both = torch.cat([cond, torch.full((n,), NULL_CLASS, device=unet.device)])
    mask_c = mask_both = None
    if diffusion.takes_mask(unet):
        empty = torch.zeros((n, 1, size, size), device=unet.device, dtype=unet.dtype)
        mask_c = empty if mask is None else torch.as_tensor(mask, device=unet.device).to(unet.dtype)[:, None]
        mask_both = torch.cat([mask_c, empty])
    for t in scheduler.timesteps:
        if scale == 1.0:
            eps = unet(_beside(x, mask_c), t, class_labels=cond).sample
        else:
            eps_c, eps_u = unet(_beside(torch.cat([x, x]), mask_both), t, class_labels=both).sample.chunk(2)
            eps = eps_u + scale * (eps_c - eps_u)
        x = scheduler.step(eps, t, x, generator=generators, **step_kwargs).prev_sample
    return (x / 2 + 0.5).clamp(0, 1).float().cpu().permute(0, 2, 3, 1).numpy()


def _beside(x: Any, mask: Any) -> Any:
    """The UNet's input: the noisy images, with the mask channel when the model takes one."""
    import torch

    return x if mask is None else torch.cat([x, mask], dim=1)
