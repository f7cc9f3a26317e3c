"""DreamBooth fine-tuning of a local Stable Diffusion pipeline (diffusers + accelerate).

Defaults are the seed paper's: resolution 512 (the base's native size), batch 1, learning rate 5e-6, constant
schedule, 10,000 steps, text encoder trained too. Optional prior preservation (class
images, generated with the base model when the class folder holds too few).

Every random draw of step s (batch order, VAE sample, noise, timesteps) comes from
(seed, s), and checkpoints hold weights + optimizer state, so ``resume`` continues
exactly where an interrupted run would have gone. A fixed "probe" batch (first
instance images, fixed noise and timesteps) is scored before and after training: the
honest "did the loss go down" number, independent of the per-step noise.

With ``mask`` the UNet also reads each instance frame's crack mask (``masks/`` beside the instance folder,
as ``bench data export`` writes it), max-pooled to the latent grid, as one more input channel that starts
with zero weights (``benchbench.diffusion.with_mask_channel``): the positive generator of ``sd-masked``,
which draws each cracked frame around a given mask.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from benchbench import diffusion
from benchbench.api import RESUME_STATE_DIR, UserError, seed_everything, torch_device, write_training_manifest
from benchbench_sd.prompts import CLASS_PROMPT, INSTANCE_PROMPT

# Config keys that must match between a checkpoint and the run resuming it.
RESUME_KEYS = ("prompt", "class_prompt", "prior_loss_weight", "resolution", "batch", "lr", "lr_schedule",
               "warmup_steps", "train_text_encoder", "seed", "grad_accum", "mask")


@dataclass(kw_only=True)
class DreamBoothConfig(diffusion.TrainingRun):
    base: Path
    instance_dir: Path
    out: Path
    prompt: str = INSTANCE_PROMPT
    class_dir: Path | None = None
    class_prompt: str | None = None
    prior_loss_weight: float = 1.0
    num_class_images: int = 100
    class_steps: int = 50
    resolution: int | None = None  # None: the base's native size (512 for SD v1.5, 128 for an sd-base)
    batch: int = 1
    lr: float = 5e-6
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    steps: int = 10_000
    train_text_encoder: bool = True
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_weight_decay: float = 1e-2
    adam_eps: float = 1e-8
    gradient_checkpointing: bool = False
    probe_images: int = 4
    mask: bool = False

    def validate(self) -> None:
        super().validate()
        diffusion.require_pipeline_dir(self.base, field="--base")
        diffusion.list_images(self.instance_dir, field="--instance-dir")
        if self.class_dir is not None and not self.class_prompt:
            raise UserError("prior preservation needs a class prompt", field="--class-prompt",
                            fix=f"add --class-prompt (e.g. '{CLASS_PROMPT}') or drop --class-dir")
        if self.resolution is not None and (self.resolution % 8 or self.resolution < 8):
            raise UserError(f"resolution must be a multiple of 8, not {self.resolution}", field="--resolution")
        for name in ("batch", "steps", "grad_accum", "num_class_images", "class_steps"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1", field="--" + name.replace("_", "-"))
        if self.lr <= 0:
            raise UserError("learning rate must be positive", field="--lr")
        if self.mask:
            diffusion.require_training_masks(diffusion.list_images(self.instance_dir, field="--instance-dir"),
                                             field="--instance-dir")
        if Path(self.out).resolve() == Path(self.base).resolve():
            raise UserError("--out must differ from --base", field="--out", fix="write to a new folder")


def train_dreambooth(cfg: DreamBoothConfig) -> dict[str, Any]:
    """Fine-tune ``cfg.base`` on ``cfg.instance_dir`` and save a loadable pipeline to ``cfg.out``.

    Returns the training log (also written to ``out/train_log.json``): per-step losses,
    probe losses, timings and the configuration.
    """
    import torch
    from accelerate import Accelerator
    from diffusers import DDPMScheduler, StableDiffusionPipeline
    from diffusers.optimization import get_scheduler

    from benchbench_sd.generator import load_pipeline, native_size

    cfg.validate()
    device = torch_device(cfg.device)
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    base = load_pipeline(cfg.base, device="cpu", dtype="float32")
    if cfg.resolution is None:
        cfg = replace(cfg, resolution=native_size(base))
    tokenizer, text_encoder, vae, unet = base.tokenizer, base.text_encoder, base.vae, base.unet
    if cfg.mask and not diffusion.takes_mask(unet):
        unet = diffusion.with_mask_channel(unet)
    noise_scheduler = DDPMScheduler.from_config(base.scheduler.config)
    channels = int(vae.config.in_channels)

    instance_paths = diffusion.list_images(cfg.instance_dir, field="--instance-dir")
    class_paths: list[Path] = []
    if cfg.class_dir is not None:
        class_paths = _ensure_class_images(base, cfg, device)

    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=device == "cpu")
    vae.requires_grad_(False)
    text_encoder.requires_grad_(cfg.train_text_encoder)
    unet.requires_grad_(True)
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        if cfg.train_text_encoder:
            text_encoder.gradient_checkpointing_enable()
    params = list(unet.parameters()) + (list(text_encoder.parameters()) if cfg.train_text_encoder else [])
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.adam_weight_decay,
                                  eps=cfg.adam_eps)
    lr_scheduler = get_scheduler(cfg.lr_schedule, optimizer=optimizer, num_warmup_steps=cfg.warmup_steps,
                                 num_training_steps=cfg.steps)

    checkpoints = diffusion.Checkpoints(out / RESUME_STATE_DIR, keep=cfg.checkpoints_keep)
    log: dict[str, Any] = {"losses": [], "probe": [], "config": _config_dict(cfg)}
    start = 0
    latest = checkpoints.latest() if cfg.resume else None
    if latest is not None:
        state = checkpoints.load(latest, {"unet": unet, "text_encoder": text_encoder}, optimizer)
        check_resumable(state.get("config", {}), log["config"], latest)
        start = int(state["step"])
        log["losses"], log["probe"] = state.get("losses", []), state.get("probe", [])
        diffusion.advance_schedule(lr_scheduler, start)

    unet, text_encoder, optimizer = accelerator.prepare(unet, text_encoder, optimizer)
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.mixed_precision, torch.float32)
    vae.to(accelerator.device)
    _cast(vae, weight_dtype)
    if not cfg.train_text_encoder:
        _cast(text_encoder, weight_dtype)

    def ids(prompt: str) -> Any:
        return tokenizer(prompt, padding="max_length", truncation=True, max_length=tokenizer.model_max_length,
                         return_tensors="pt").input_ids

    instance_ids, class_ids = ids(cfg.prompt), ids(cfg.class_prompt or "")
    probe = _probe_batch(instance_paths[:cfg.probe_images], cfg, channels, noise_scheduler, instance_ids,
                         latent_shape=(int(vae.config.latent_channels), cfg.resolution // base.vae_scale_factor))

    def encode_latents(pixels: Any, gen: Any | None) -> Any:
        dist = vae.encode(pixels.to(accelerator.device, dtype=weight_dtype)).latent_dist
        latents = dist.sample(generator=gen) if gen is not None else dist.mode()
        return latents.float() * vae.config.scaling_factor

    def loss_of(pixels: Any, input_ids: Any, gen: Any | None, fixed: dict[str, Any] | None = None,
                masks: Any = None) -> Any:
        latents = encode_latents(pixels, gen)
        if fixed is None:
            noise = torch.randn(latents.shape, generator=gen).to(latents.device)
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],),
                                      generator=gen).to(latents.device)
        else:
            noise, timesteps = fixed["noise"].to(latents.device), fixed["timesteps"].to(latents.device)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        if masks is not None:
            noisy = torch.cat([noisy, diffusion.pooled_mask(masks, noisy.shape[-1]).to(noisy)], dim=1)
        hidden = text_encoder(input_ids.to(latents.device))[0]
        pred = unet(noisy, timesteps, hidden).sample.float()
        target = denoising_target(noise_scheduler, latents, noise, timesteps)
        if fixed is None and class_paths:
            pred, pred_prior = pred.chunk(2)
            target, target_prior = target.chunk(2)
            prior = torch.nn.functional.mse_loss(pred_prior, target_prior)
            return torch.nn.functional.mse_loss(pred, target) + cfg.prior_loss_weight * prior
        return torch.nn.functional.mse_loss(pred, target)

    def probe_loss(step: int) -> float:
        unet.eval()
        text_encoder.eval()
        with torch.no_grad(), accelerator.autocast():
            value = float(loss_of(probe["pixels"], probe["ids"], None, probe, probe.get("masks")))
        unet.train()
        text_encoder.train(cfg.train_text_encoder)
        log["probe"].append([step, value])
        return value

    if not log["probe"] or log["probe"][-1][0] != start:
        probe_loss(start)
    unet.train()
    text_encoder.train(cfg.train_text_encoder)
    with diffusion.progress_bar(cfg.steps, "dreambooth", quiet=cfg.quiet, start=start) as update:
        for step in range(start, cfg.steps):
            total = 0.0
            for micro in range(cfg.grad_accum):
                k = step * cfg.grad_accum + micro
                gen = diffusion.step_generator(cfg.seed, k)
                index = diffusion.batch_indices(len(instance_paths), cfg.batch, k, cfg.seed)
                pixels = _load_batch(instance_paths, index, cfg, channels)
                masks = _load_masks(instance_paths, index, cfg) if cfg.mask else None
                input_ids = instance_ids.repeat(cfg.batch, 1)
                if class_paths:
                    cidx = diffusion.batch_indices(len(class_paths), cfg.batch, k, cfg.seed + 1)
                    pixels = torch.cat([pixels, _load_batch(class_paths, cidx, cfg, channels)])
                    input_ids = torch.cat([input_ids, class_ids.repeat(cfg.batch, 1)])
                    if masks is not None:  # the base's own class images: no crack, an empty mask
                        masks = torch.cat([masks, torch.zeros_like(masks)])
                with accelerator.autocast():
                    loss = loss_of(pixels, input_ids, gen, masks=masks) / cfg.grad_accum
                accelerator.backward(loss)
                total += float(loss.detach())
            done = diffusion.optimizer_step(accelerator, params, optimizer, lr_scheduler, loss=total, step=step,
                                            losses=log["losses"], max_grad_norm=cfg.max_grad_norm)
            update(loss=total)
            if done % cfg.checkpoint_every == 0 and done < cfg.steps:
                checkpoints.save(done, {"unet": accelerator.unwrap_model(unet),
                                        "text_encoder": accelerator.unwrap_model(text_encoder)},
                                 optimizer, {"losses": log["losses"], "probe": log["probe"],
                                             "config": log["config"]})
    probe_loss(cfg.steps)

    pipe = StableDiffusionPipeline(
        vae=_cast(vae, torch.float32), text_encoder=_cast(accelerator.unwrap_model(text_encoder), torch.float32),
        tokenizer=tokenizer, unet=_cast(accelerator.unwrap_model(unet), torch.float32), scheduler=base.scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(out), safe_serialization=True)
    n = min(10, len(log["losses"]))
    log.update(steps=cfg.steps, resumed_from=start, seconds=round(time.time() - started, 2), device=device,
               instance_images=len(instance_paths), class_images=len(class_paths),
               first_losses_mean=sum(log["losses"][:n]) / max(n, 1),
               last_losses_mean=sum(log["losses"][-n:]) / max(n, 1))
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    # Only the instance frames are data; prior-preservation images come from the base model itself.
    # The base's own training frames (an sd-base learnt from frames) are listed too, for the leakage guard.
    write_training_manifest(out, cfg.instance_dir, {"instance": instance_paths}, trainer="bench train dreambooth",
                            base=cfg.base)
    return log


# --------------------------------------------------------------------------- helpers
def _config_dict(cfg: DreamBoothConfig) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}


def denoising_target(scheduler: Any, latents: Any, noise: Any, timesteps: Any) -> Any:
    """What the UNet learns to predict under ``scheduler``'s ``prediction_type``: the noise, or v."""
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    return noise


def check_resumable(saved: dict[str, Any], now: dict[str, Any], path: Path,
                    keys: tuple[str, ...] = RESUME_KEYS) -> None:
    """A user error naming the first option in ``keys`` that differs from the checkpoint's."""
    for key in keys:
        if key in saved and saved[key] != now[key]:
            raise UserError(f"checkpoint {path.name} was made with {key}={saved[key]!r}, not {now[key]!r}",
                            field="--resume", fix=f"use the same --{key.replace('_', '-')} or a new --out")


def _cast(module: Any, dtype: Any) -> Any:
    """Cast only when needed (diffusers warns on every ``.to(dtype)``)."""
    return module if module.dtype == dtype else module.to(dtype=dtype)


def _load_batch(paths: list[Path], indices: list[int], cfg: DreamBoothConfig, channels: int) -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.stack([diffusion.load_training_image(paths[i], cfg.resolution, channels)
                                      for i in indices]))


def _load_masks(paths: list[Path], indices: list[int], cfg: DreamBoothConfig) -> Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.stack([diffusion.training_mask(paths[i], cfg.resolution) for i in indices]))


def _probe_batch(paths: list[Path], cfg: DreamBoothConfig, channels: int, scheduler: Any, input_ids: Any,
                 latent_shape: tuple[int, int]) -> dict[str, Any]:
    """Fixed images (and masks), noise and evenly spread timesteps: a loss comparable across steps."""
    latent_channels, side = latent_shape
    noise, timesteps = diffusion.probe_noise(len(paths), (latent_channels, side, side), cfg.seed,
                                             scheduler.config.num_train_timesteps)
    index = list(range(len(paths)))
    return {"pixels": _load_batch(paths, index, cfg, channels), "ids": input_ids.repeat(len(paths), 1),
            "timesteps": timesteps, "noise": noise, **({"masks": _load_masks(paths, index, cfg)} if cfg.mask else {})}


def _ensure_class_images(base: Any, cfg: DreamBoothConfig, device: str) -> list[Path]:
    """Class images for prior preservation; generate the missing ones with the base model."""
    assert cfg.class_dir is not None
    folder = Path(cfg.class_dir)
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in folder.iterdir() if p.suffix.lower() in diffusion.IMAGE_SUFFIXES)
    missing = cfg.num_class_images - len(existing)
    if missing > 0:
        from PIL import Image

        from benchbench.api import GenerationRequest

        base.to(device)

        def sample(generators: list[Any]) -> Any:
            return base(prompt=[cfg.class_prompt] * len(generators), num_inference_steps=cfg.class_steps,
                        height=cfg.resolution, width=cfg.resolution, generator=generators,
                        output_type="np").images

        with diffusion.progress_bar(missing, "class images", quiet=cfg.quiet) as update:
            for i in range(len(existing), cfg.num_class_images):  # one at a time: an interruption keeps the rest
                req = GenerationRequest(label="sane", n=1, guidance=7.5, seed=cfg.seed, size=cfg.resolution,
                                        start_index=i)
                frame = diffusion.generate_frames(sample, req, name="class", batch=1, channels=3)[0]
                Image.fromarray(frame.image).save(folder / f"class-{i:05d}.png")
                update()
        base.to("cpu")
    return diffusion.list_images(folder, field="--class-dir")[:cfg.num_class_images]
