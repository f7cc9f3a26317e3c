"""Mask-conditioned Stable Diffusion generator (``sd-masked``): the positive (crack) pipeline's UNet reads a
crack mask beside its latents (``bench train dreambooth --mask``), each cracked frame is drawn around a
jittered crack mask of the fold's training frames and carries it, so its boxes come from the mask
(``labeler: mask``) and no teacher is needed. Sane frames come from the negative pipeline as for ``sd``.

The masks are read and drawn at the pipeline's pixel resolution and max-pooled to its latent grid for the
UNet, as its training did. diffusers' StableDiffusionPipeline builds latents with as many channels as the
UNet reads, so the crack frames are sampled by :func:`masked_sample`, the pipeline's own loop (prompt
encoding, classifier-free guidance with the unconditional branch on the empty prompt and an empty mask,
``guidance_rescale``, scheduler steps, VAE decoding) with the mask beside the latents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from benchbench import diffusion
from benchbench.api import GenerationRequest, UserError, sha256_json
from benchbench_sd.generator import StableDiffusionGenerator


class MaskedSdGenerator(diffusion.MaskConditioned, StableDiffusionGenerator):
    """``sd`` with a mask-conditioned positive pipeline. Parameters: those of ``sd`` (``positive`` written by
    ``bench train dreambooth --mask``), and ``jitter``: the largest shift of a training mask, px at the
    pipeline's resolution, each way."""

    name = "sd-masked"

    def __init__(self, *args: Any, jitter: int = diffusion.DEFAULT_JITTER, **params: Any):
        self.jitter = self.check_jitter(jitter)
        super().__init__(*args, **params)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "jitter": self.jitter}

    def fingerprint(self) -> str:
        return sha256_json({"sd": super().fingerprint(), "jitter": self.jitter})

    def mask_size(self) -> int:
        """The crack pipeline's pixel resolution (``size``, else native), read from its configs without loading."""
        if self.size is not None:
            return int(self.size)
        folder = self.folders["crack"]
        try:
            sample = json.loads((folder / "unet" / "config.json").read_text())["sample_size"]
            levels = len(json.loads((folder / "vae" / "config.json").read_text())["block_out_channels"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot read the pipeline's resolution ({exc})", file=str(folder),
                            fix="point positive: at a folder written by `bench train dreambooth --mask`") from None
        return int(sample[0] if isinstance(sample, list) else sample) * 2 ** (levels - 1)

    def _check_unet(self, folder: Any, unet: Any) -> None:
        crack = folder == self.folders["crack"]
        if diffusion.takes_mask(unet) != crack:
            raise UserError(f"{folder}: sd-masked needs a positive pipeline trained with --mask and a negative one "
                            "without", field="positive" if crack else "negative",
                            fix="bench train dreambooth --mask for the positive only")

    def _sampler(self, pipe: Any, req: GenerationRequest) -> Callable[..., Any]:
        if req.label != "crack":
            return super()._sampler(pipe, req)
        prompt, guidance, size = self._settings(pipe, req)
        return lambda generators, mask: masked_sample(pipe, prompt, guidance, self.guidance_rescale, self.steps,
                                                      size, generators, mask)


def masked_sample(pipe: Any, prompt: str, guidance: float, rescale: float, steps: int, size: int,
                  generators: list[Any], mask: Any) -> Any:
    """(B, H, W, C) floats in [0, 1]: StableDiffusionPipeline's sampling loop for a UNet that reads ``mask``
    ((B, size, size) bool) beside its latents; the unconditional branch gets the empty prompt and an empty mask."""
    import torch
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg
    from diffusers.utils.torch_utils import randn_tensor

    with torch.no_grad():  # as the pipeline's own __call__
        unet, scheduler, vae = pipe.unet, pipe.scheduler, pipe.vae
        n, device, dtype = len(generators), unet.device, unet.dtype
        side = size // pipe.vae_scale_factor
        cfg = guidance > 1  # as the pipeline: guidance <= 1 runs the conditional branch only
        cond, uncond = pipe.encode_prompt([prompt] * n, device, 1, cfg)
        embeds = torch.cat([uncond, cond]) if cfg else cond
        given = diffusion.pooled_mask(torch.as_tensor(mask)[:, None].float(), side).to(device, dtype)
        masks = torch.cat([torch.zeros_like(given), given]) if cfg else given
        scheduler.set_timesteps(steps, device=device)
        latents = randn_tensor((n, int(unet.config.out_channels), side, side), generator=generators, device=device,
                               dtype=dtype) * scheduler.init_noise_sigma
        step_kwargs = pipe.prepare_extra_step_kwargs(generators, 0.0)
        for t in scheduler.timesteps:
            x = scheduler.scale_model_input(torch.cat([latents, latents]) if cfg else latents, t)
            eps = unet(torch.cat([x, masks], dim=1), t, encoder_hidden_states=embeds).sample
            if cfg:
                eps_u, eps_c = eps.chunk(2)
                eps = eps_u + guidance * (eps_c - eps_u)
                if rescale > 0:
                    eps = rescale_noise_cfg(eps, eps_c, guidance_rescale=rescale)
            latents = scheduler.step(eps, t, latents, **step_kwargs).prev_sample
        image = vae.decode(latents / vae.config.scaling_factor).sample
        return (image / 2 + 0.5).clamp(0, 1).float().cpu().permute(0, 2, 3, 1).numpy()
