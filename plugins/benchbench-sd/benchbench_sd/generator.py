"""Stable Diffusion generator: a negative (sane) and a positive (crack) pipeline, or one for both.

Construction only validates parameters and folders; torch and diffusers are imported
when frames are first generated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchbench import diffusion
from benchbench.api import GenerationRequest, UserError, sha256_json
from benchbench_sd import __version__
from benchbench_sd.prompts import CRACK_PROMPT, SANE_PROMPT

# Matrix name -> diffusers scheduler class; "default" keeps the folder's own scheduler. The ancestral
# ones (a fresh noise draw per step) are here because a briefly trained model's noise estimate errs at
# low noise, and deterministic samplers keep that error as grain (the ddpm plugin README, "Sampler").
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "dpm": "DPMSolverMultistepScheduler",
}
# the ones diffusers can build with betas rescaled to zero terminal SNR (a `--noise-schedule zero-snr` base)
ZERO_SNR_SCHEDULERS = ("ddim", "ddpm", "euler-a", "euler", "dpm")
DEFAULT_GUIDANCE = 7.5  # diffusers' default, used when the matrix has no guidance axis


class StableDiffusionGenerator(diffusion.PipelineGenerator):
    """Frames from DreamBooth-fine-tuned Stable Diffusion pipelines (local diffusers folders).

    Parameters (the matrix entry):
        negative, positive: pipeline folders for sane and cracked frames;
        weights: one folder for both classes (then the two prompts tell them apart);
        sane_prompt, crack_prompt: prompts per class (default: the seed paper's);
        steps: denoising steps; scheduler: default|ddim|pndm|euler|dpm;
        size: generation resolution in px (default: the pipeline's native one); frames
            are resized to the size the harness asks for;
        channels: 1 = grey content on 3 channels like the real frames, 3 = model colours;
        device: None = the cell's device (ctx.device), or auto|cpu|cuda[:i]; dtype: auto|float32|float16|bfloat16;
        guidance_rescale: 0 (default) or, for a zero-terminal-SNR base, e.g. 0.7: scales the guided noise
            estimate back towards the conditional one's spread, which high guidance otherwise over-exposes
            (Lin et al., WACV 2024, section 3.4; diffusers' ``guidance_rescale``);
        batch: images per pipeline call (1 = every frame computed alone; larger is faster on
            a GPU). Frames are bit-identical whatever the request's n/start_index; batch is
            in the fingerprint because kernels pick algorithms by batch shape (last-bit changes).
    Guidance comes from the request (the matrix axis); none -> 7.5.
    """

    name = "sd"
    version = __version__

    def __init__(self, negative: str | os.PathLike | None = None, positive: str | os.PathLike | None = None,
                 weights: str | os.PathLike | None = None, sane_prompt: str = SANE_PROMPT,
                 crack_prompt: str = CRACK_PROMPT, steps: int = 50, scheduler: str = "default",
                 size: int | None = None, channels: int = 1, device: str | None = None, dtype: str = "auto",
                 batch: int = 4, guidance_rescale: float = 0.0):
        # one folder for both classes: the prompts tell them apart
        folders = diffusion.class_folders(
            weights, {"sane": ("negative", negative), "crack": ("positive", positive)}, weights_hold="one folder",
            split=lambda w: dict.fromkeys(("sane", "crack"), diffusion.require_pipeline_dir(w, field="weights")),
            fix="set negative: and positive: (or weights:) to local diffusers folders")
        if scheduler not in ("default", *SCHEDULERS):
            raise UserError(f"unknown scheduler '{scheduler}'", field="scheduler",
                            fix=f"use one of: default, {', '.join(SCHEDULERS)}")
        if not isinstance(steps, int) or steps < 1:
            raise UserError(f"steps must be a positive integer, not {steps!r}", field="steps")
        if size is not None and (not isinstance(size, int) or size < 8 or size % 8):
            raise UserError(f"size must be a multiple of 8, not {size!r}", field="size",
                            fix="use e.g. 512 (SD v1.5) or leave it out for the native size")
        super().__init__(folders, channels=channels, batch=batch, device=device, dtype=dtype)
        for folder in set(self.folders.values()):
            check_scheduler(folder, scheduler)
        for label, prompt in (("sane_prompt", sane_prompt), ("crack_prompt", crack_prompt)):
            if not isinstance(prompt, str) or not prompt.strip():
                raise UserError("prompt must be a non-empty string", field=label)
        self.prompts = {"sane": sane_prompt, "crack": crack_prompt}
        if not isinstance(guidance_rescale, (int, float)) or not 0 <= guidance_rescale <= 1:
            raise UserError(f"guidance_rescale must be in [0, 1], not {guidance_rescale!r}", field="guidance_rescale",
                            fix="0 (off) or e.g. 0.7 for a zero-terminal-SNR base")
        self.steps, self.scheduler, self.size = steps, scheduler, size
        self.guidance_rescale = float(guidance_rescale)
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ protocol
    def params(self) -> dict[str, Any]:
        """Effective generation parameters (what the fingerprint covers, plus device/batch)."""
        return {"folders": {k: str(v) for k, v in self.folders.items()}, "prompts": dict(self.prompts),
                "steps": self.steps, "scheduler": self.scheduler, "size": self.size,
                "channels": self.channels, "dtype": self.dtype, "device": self.device, "batch": self.batch,
                "guidance_rescale": self.guidance_rescale}

    def fingerprint(self) -> str:
        """Hash of both pipelines' weights + configs and of every parameter that changes pixels."""
        if self._fingerprint is None:
            # The safety checker is never loaded (safety_checker=None): no need to hash its 1.2 GB.
            by_folder = {folder: diffusion.pipeline_fingerprint(folder, skip=("safety_checker",))
                         for folder in set(self.folders.values())}
            weights = {label: by_folder[folder] for label, folder in self.folders.items()}
            self._fingerprint = sha256_json({
                "plugin": self.name, "weights": weights, "prompts": self.prompts, "steps": self.steps,
                "scheduler": self.scheduler, "size": self.size, "channels": self.channels, "dtype": self.dtype,
                "batch": self.batch,
                # only when on, so frames made before the option existed keep their cache keys
                **({"guidance_rescale": self.guidance_rescale} if self.guidance_rescale else {})})
        return self._fingerprint

    # ------------------------------------------------------------------ PipelineGenerator
    def _load(self, folder: Path, device: str) -> Any:
        pipe = load_pipeline(folder, scheduler=self.scheduler, device=device, dtype=self.dtype)
        self._check_unet(folder, pipe.unet)
        return pipe

    def _check_unet(self, folder: Path, unet: Any) -> None:
        if diffusion.takes_mask(unet):
            raise UserError(f"{folder} holds a UNet that reads a crack mask (bench train dreambooth --mask)",
                            field="positive", fix="use plugin sd-masked for it")

    def _settings(self, pipe: Any, req: GenerationRequest) -> tuple[str, float, int]:
        """The request's prompt, guidance scale and square size (px) on ``pipe``."""
        guidance = DEFAULT_GUIDANCE if req.guidance is None else float(req.guidance)
        return req.prompt or self.prompts[req.label], guidance, self.size or native_size(pipe)

    def _sampler(self, pipe: Any, req: GenerationRequest) -> Callable[[list[Any]], Any]:
        prompt, guidance, height = self._settings(pipe, req)
        width = height

        def sample(generators: list[Any]) -> Any:
            out = pipe(prompt=[prompt] * len(generators), guidance_scale=guidance,
                       guidance_rescale=self.guidance_rescale,
                       num_inference_steps=self.steps, height=height, width=width,
                       generator=generators, output_type="np")
            return out.images

        return sample


def native_size(pipe: Any) -> int:
    """The resolution the UNet was built for (512 for SD v1.5)."""
    sample = pipe.unet.config.sample_size
    sample = sample[0] if isinstance(sample, (list, tuple)) else sample
    return int(sample) * int(pipe.vae_scale_factor)


def check_scheduler(folder: str | os.PathLike, scheduler: str) -> None:
    """Refuse a sampler that would ignore the folder's zero-terminal-SNR betas (the UNet never saw its own)."""
    config = Path(folder) / "scheduler" / "scheduler_config.json"
    if scheduler in ("default", *ZERO_SNR_SCHEDULERS) or not config.is_file():
        return
    if json.loads(config.read_text()).get("rescale_betas_zero_snr"):
        raise UserError(f"scheduler '{scheduler}' cannot use the zero-terminal-SNR betas of {folder}",
                        field="scheduler", fix="use default or one of " + ", ".join(ZERO_SNR_SCHEDULERS))


def load_pipeline(folder: str | os.PathLike, *, scheduler: str = "default", device: str = "cpu",
                  dtype: str = "float32") -> Any:
    """Load a local StableDiffusionPipeline (no safety checker, never the network)."""
    import diffusers
    from diffusers import StableDiffusionPipeline

    check_scheduler(folder, scheduler)
    torch_dtype = diffusion.torch_dtype(dtype, device)
    try:
        with diffusion.quiet_loading():
            pipe = StableDiffusionPipeline.from_pretrained(
                str(folder), safety_checker=None, requires_safety_checker=False, local_files_only=True,
                dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load a Stable Diffusion pipeline from {folder}: {str(exc).splitlines()[0]}",
                        fix="check the folder was written by save_pretrained (bench train dreambooth)") from None
    if scheduler != "default":
        cls = getattr(diffusers, SCHEDULERS[scheduler])
        pipe.scheduler = cls.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
