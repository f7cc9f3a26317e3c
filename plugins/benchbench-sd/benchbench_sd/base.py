"""``bench train sd-base``: a Stable Diffusion base learnt from the training frames alone.

No SD weights can be downloaded here, so the parts DreamBooth starts from are trained on the
frames of an exported training set (``crack/`` + ``sane/``, from ``bench data export --split
train``): first a grey ``AutoencoderKL`` (:mod:`benchbench_sd.vae`), then, in its latent space, a
small ``UNet2DConditionModel`` with a tiny CLIP text encoder and an offline tokenizer, on the seed's
prompts (sane frames captioned with the sane prompt, cracked ones with the crack prompt, and one
caption in ``cond_drop`` replaced by the empty prompt, which the pipeline's classifier-free
guidance uses as its unconditional branch). The result is a ``StableDiffusionPipeline`` folder.

Each phase checkpoints (weights + optimizer) and draws everything of step s from (seed, phase, s),
so ``resume`` continues exactly; a finished VAE phase is kept in ``OUT/vae`` and not redone.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchbench import diffusion
from benchbench.api import RESUME_STATE_DIR, UserError, seed_everything, torch_device, write_training_manifest
from benchbench_sd.prompts import CRACK_PROMPT, SANE_PROMPT
from benchbench_sd.train import check_resumable, denoising_target

CLASSES = ("crack", "sane")
CAPTIONS = {"crack": CRACK_PROMPT, "sane": SANE_PROMPT}
VAE_KEYS = ("size", "vae_width", "vae_latent", "vae_levels", "vae_steps", "vae_lr", "vae_patch", "vae_edge", "batch",
            "seed", "crack_weight")
UNET_KEYS = VAE_KEYS + ("unet_width", "text_width", "unet_steps", "unet_lr", "cond_drop", "noise_schedule")
# what a checkpoint written before an option existed was made with
OLD_DEFAULTS = {"noise_schedule": "sd15", "crack_weight": 0.0}


@dataclass(kw_only=True)
class SdBaseConfig(diffusion.TrainingRun):
    data: Path
    out: Path
    size: int = 128
    vae_width: int = 32
    vae_latent: int = 4
    vae_levels: int = 2  # 4x (SD's 3 levels) loses the cracks' 1-2 px steps: README, "the crack bar"
    vae_steps: int = 2000
    vae_lr: float = 1e-3
    vae_patch: int = 64
    vae_edge: float = 1.0
    unet_width: int = 32
    text_width: int = 64
    unet_steps: int = 2000
    unet_lr: float = 3e-4
    batch: int = 8
    cond_drop: float = 0.1
    noise_schedule: str = "sd15"
    crack_weight: float = 0.0
    max_grad_norm: float = 1.0
    checkpoint_every: int = 250

    def validate(self) -> dict[str, list[Path]]:
        """Check options; return the training images per class."""
        super().validate()
        files = diffusion.class_images(self.data, CLASSES)
        if self.size % 8 or self.size < 16:
            raise UserError(f"size must be a multiple of 8 (16 or more), not {self.size}", field="--size")
        for name in ("vae_width", "unet_width", "text_width"):
            if getattr(self, name) < 8 or getattr(self, name) % 8:
                raise UserError(f"{name} must be a multiple of 8, not {getattr(self, name)}",
                                field="--" + name.replace("_", "-"))
        if self.vae_patch % 8 or not 16 <= self.vae_patch <= self.size:
            raise UserError(f"vae-patch must be a multiple of 8 from 16 to --size, not {self.vae_patch}",
                            field="--vae-patch")
        if self.vae_levels not in (2, 3):
            raise UserError(f"vae-levels must be 2 or 3, not {self.vae_levels}", field="--vae-levels",
                            fix="3: SD's 4x downsampling over 3 levels; 2: 2x, for cracks of one or two pixels")
        if self.vae_latent < 1:
            raise UserError(f"vae-latent must be at least 1, not {self.vae_latent}", field="--vae-latent")
        for name in ("vae_steps", "batch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1", field="--" + name.replace("_", "-"))
        if self.unet_steps < 0:
            raise UserError("unet_steps must be 0 (VAE only) or more", field="--unet-steps")
        if min(self.vae_lr, self.unet_lr) <= 0:
            raise UserError("learning rates must be positive", field="--vae-lr")
        if self.crack_weight < 0:
            raise UserError(f"crack-weight must be 0 or more, not {self.crack_weight}", field="--crack-weight")
        masks = Path(self.data, diffusion.MASKS_DIR)
        if self.crack_weight and not any(masks.glob("*.png")):
            raise UserError(f"--crack-weight needs the cracked frames' masks, and {self.data} has no {masks.name}/",
                            field="--crack-weight",
                            fix="export from a dataset with masks (layout: masks) with bench data export, "
                                "or leave --crack-weight at 0")
        if not 0 <= self.cond_drop < 1:
            raise UserError(f"cond-drop must be in [0, 1), not {self.cond_drop}", field="--cond-drop",
                            fix="e.g. 0.1: one caption in ten is the empty prompt guidance contrasts with")
        from benchbench_sd.tiny import NOISE_SCHEDULES

        if self.noise_schedule not in NOISE_SCHEDULES:
            raise UserError(f"unknown noise schedule '{self.noise_schedule}'", field="--noise-schedule",
                            fix="one of " + ", ".join(NOISE_SCHEDULES))
        return files


def train_sd_base(cfg: SdBaseConfig) -> dict[str, Any]:
    """Train (or resume) the VAE, then the UNet and text encoder; save the pipeline to ``cfg.out``.

    Returns the log (also ``OUT/train_log.json``): per-phase losses, seconds and steps/s.
    """
    import numpy as np
    import torch

    from benchbench_sd.tiny import NOISE_SCHEDULES, build_text_encoder, build_tokenizer, save_sd_pipeline
    from benchbench_sd.vae import build_vae, downsampling

    files = cfg.validate()
    device = torch_device(cfg.device)
    seed_everything(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = [label for label in CLASSES for _ in files[label]]
    pixels = torch.from_numpy(np.stack([diffusion.load_training_image(p, cfg.size, 1)
                                        for label in CLASSES for p in files[label]]))
    weights = crack_weights([p for label in CLASSES for p in files[label]], cfg.size, cfg.crack_weight)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    log: dict[str, Any] = {"config": config, "device": device, "frames": {k: len(v) for k, v in files.items()}}

    vae = build_vae(cfg.vae_width, size=cfg.size, latent_channels=cfg.vae_latent, levels=cfg.vae_levels)
    log["vae"] = _vae_phase(cfg, vae, pixels, weights, out, device, config)
    parts = None
    if cfg.unet_steps:
        tokenizer = build_tokenizer(out / "tokenizer")
        torch.manual_seed(cfg.seed)
        text_encoder = build_text_encoder(tokenizer, hidden=cfg.text_width)
        unet = build_unet(cfg.unet_width, cross_dim=cfg.text_width, latent_size=cfg.size // downsampling(vae),
                          latent_channels=cfg.vae_latent)
        log["unet"] = _unet_phase(cfg, vae, unet, text_encoder, tokenizer, pixels, weights, labels, out, device,
                                  config)
        parts = {"vae": vae.to("cpu"), "text_encoder": text_encoder.to("cpu"), "tokenizer": tokenizer,
                 "unet": unet.to("cpu")}
        save_sd_pipeline(out, scheduler=NOISE_SCHEDULES[cfg.noise_schedule](), **parts)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    write_training_manifest(out, cfg.data, files, trainer="bench train sd-base")
    return log


def crack_weights(images: list[Path], size: int, weight: float) -> Any:
    """Per-pixel loss weights (N x 1 x size x size): 1, and ``1 + weight`` on each frame's crack mask grown by
    one pixel (both edges of the crack step); None when ``weight`` is 0. Grown so, a crack is 1.8 % of a
    cracked 64-px FLYD-S frame, and an unweighted loss is nearly blind to it: the 64-px VAE's
    reconstructions kept 42 dB but lost the cracks the classic detector found on the frames
    (plugins/benchbench-sd/measured)."""
    if not weight:
        return None
    import numpy as np
    import torch

    masks = torch.from_numpy(np.stack([diffusion.training_mask(p, size) for p in images]))
    grown = torch.nn.functional.max_pool2d(masks, 3, stride=1, padding=1)
    return 1.0 + weight * grown


def build_unet(width: int, *, cross_dim: int, latent_size: int, latent_channels: int = 4) -> Any:
    """A small text-conditioned UNet: widths (w, 2w, 2w), cross-attention on the two coarser levels only
    (self-attention over the finest latent grid, 64x64 behind the default 2x VAE, would cost more than the rest
    of the UNet on a CPU)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=latent_size, in_channels=latent_channels, out_channels=latent_channels, layers_per_block=1,
        block_out_channels=(width, 2 * width, 2 * width),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_dim, attention_head_dim=8, norm_num_groups=8)


# --------------------------------------------------------------------------- phases
def _vae_phase(cfg: SdBaseConfig, vae: Any, pixels: Any, weights: Any, out: Path, device: str,
               config: dict[str, Any]) -> dict[str, Any]:
    """Train the VAE on the frames (or load the finished one from ``OUT/vae``)."""
    import torch
    from diffusers import AutoencoderKL

    from benchbench_sd.vae import augment, vae_loss

    done = out / "vae" / "vae_log.json"
    if cfg.resume and done.is_file():
        saved = json.loads(done.read_text())
        check_resumable(saved["config"], config, done, VAE_KEYS)
        vae.load_state_dict(AutoencoderKL.from_pretrained(out / "vae").state_dict())
        vae.register_to_config(scaling_factor=saved["scaling_factor"])
        return saved | {"reused": True}
    modules = {"vae": vae}
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    schedule = _cosine(optimizer, cfg.vae_steps)
    phase = _Phase(cfg, "vae", VAE_KEYS, config, out, modules, optimizer, schedule)
    vae.to(device).train()

    def step(s: int, gen: Any) -> float:
        idx = diffusion.batch_indices(len(pixels), cfg.batch, s, cfg.seed)
        if weights is None:
            batch, weight = augment(pixels[idx], gen, cfg.vae_patch).to(device), None
        else:  # one window and turn for a frame and its weights
            both = augment(torch.cat([pixels[idx], weights[idx]], dim=1), gen, cfg.vae_patch).to(device)
            batch, weight = both[:, :1], both[:, 1:]
        loss, mse = vae_loss(vae, batch, gen, cfg.vae_edge, weight)
        loss.backward()
        return mse

    log = phase.run(cfg.vae_steps, step, list(vae.parameters()))
    vae.eval()
    # SD scales latents to unit variance before the UNet sees them; measured on the training frames.
    with torch.no_grad():
        means = torch.cat([vae.encode(pixels[i:i + 32].to(device)).latent_dist.mode()
                           for i in range(0, len(pixels), 32)])
    vae.register_to_config(scaling_factor=float(1.0 / means.std()))
    vae.to("cpu").save_pretrained(out / "vae")
    log |= {"config": config, "scaling_factor": vae.config.scaling_factor}
    done.write_text(json.dumps(log, indent=1))
    return log


def _unet_phase(cfg: SdBaseConfig, vae: Any, unet: Any, text_encoder: Any, tokenizer: Any, pixels: Any,
                weights: Any, labels: list[str], out: Path, device: str, config: dict[str, Any]) -> dict[str, Any]:
    """Train UNet + text encoder to denoise the frames' latents, captioned by class."""
    import torch
    from diffusers import DDPMScheduler

    from benchbench_sd.tiny import NOISE_SCHEDULES
    from benchbench_sd.vae import downsampling

    noise_scheduler = DDPMScheduler.from_config(NOISE_SCHEDULES[cfg.noise_schedule]().config)
    vae.to(device).eval().requires_grad_(False)
    # The frames' latent distributions (and their mirror images') once: the VAE is frozen now.
    with torch.no_grad():
        both = torch.cat([pixels, torch.flip(pixels, dims=(3,))])
        dists = [vae.encode(both[i:i + 32].to(device)).latent_dist for i in range(0, len(both), 32)]
        mean = torch.cat([d.mean for d in dists])
        std = torch.cat([d.std for d in dists])
        # a latent's weight: the largest of the pixels it spans
        latent_weights = None if weights is None else torch.nn.functional.max_pool2d(
            torch.cat([weights, torch.flip(weights, dims=(3,))]), downsampling(vae)).to(device)
    prompts = [CAPTIONS[label] for label in labels] * 2
    ids = {p: tokenizer(p, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids[0] for p in (*CAPTIONS.values(), "")}
    modules = {"unet": unet, "text_encoder": text_encoder}
    params = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.unet_lr, weight_decay=1e-2)
    schedule = _cosine(optimizer, cfg.unet_steps)
    phase = _Phase(cfg, "unet", UNET_KEYS, config, out, modules, optimizer, schedule)
    unet.to(device).train()
    text_encoder.to(device).train()
    scale = float(vae.config.scaling_factor)

    def step(s: int, gen: Any) -> float:
        idx = diffusion.batch_indices(len(mean), cfg.batch, s, cfg.seed)
        latents = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen).to(device)) * scale
        drop = torch.rand(len(idx), generator=gen) < cfg.cond_drop
        input_ids = torch.stack([ids["" if d else prompts[i]] for i, d in zip(idx, drop.tolist(), strict=True)])
        noise = torch.randn(latents.shape, generator=gen).to(device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(idx),), generator=gen).to(device)
        hidden = text_encoder(input_ids.to(device))[0]
        pred = unet(noise_scheduler.add_noise(latents, noise, t), t, hidden).sample
        target = denoising_target(noise_scheduler, latents, noise, t)
        if latent_weights is None:
            loss = torch.nn.functional.mse_loss(pred, target)
        else:
            loss = (latent_weights[idx] * (pred - target) ** 2).mean() / latent_weights[idx].mean()
        loss.backward()
        return float(loss.detach())

    return phase.run(cfg.unet_steps, step, params)


class _Phase:
    """One training phase: step-seeded draws, clipping, checkpoints under ``OUT/checkpoints/NAME``, resume."""

    def __init__(self, cfg: SdBaseConfig, name: str, keys: tuple[str, ...], config: dict[str, Any], out: Path,
                 modules: dict[str, Any], optimizer: Any, schedule: Any):
        self.cfg, self.name, self.keys, self.config = cfg, name, keys, config
        self.modules, self.optimizer, self.schedule = modules, optimizer, schedule
        self.checkpoints = diffusion.Checkpoints(out / RESUME_STATE_DIR / name, keep=cfg.checkpoints_keep)
        from accelerate import Accelerator

        # only its gradient clipping is used: the loops run in float32 on one device
        self.accelerator = Accelerator(cpu=torch_device(cfg.device) == "cpu")

    def run(self, steps: int, step: Any, params: list[Any]) -> dict[str, Any]:
        losses: list[float] = []
        start = 0
        latest = self.checkpoints.latest() if self.cfg.resume else None
        if latest is not None:
            state = self.checkpoints.load(latest, self.modules, self.optimizer)
            check_resumable(OLD_DEFAULTS | state["config"], self.config, latest, self.keys)
            start, losses = int(state["step"]), state["losses"]
            diffusion.advance_schedule(self.schedule, start)
        clock = time.perf_counter()
        with diffusion.progress_bar(steps, self.name, quiet=self.cfg.quiet, start=start) as update:
            for s in range(start, steps):
                loss = step(s, diffusion.step_generator(self.cfg.seed, s, stream=f"sd-base:{self.name}"))
                done = diffusion.optimizer_step(self.accelerator, params, self.optimizer, self.schedule, loss=loss,
                                                step=s, losses=losses, max_grad_norm=self.cfg.max_grad_norm,
                                                what=f"{self.name}: ")
                update(loss=loss)
                if done % self.cfg.checkpoint_every == 0 and done < steps:
                    self.checkpoints.save(done, self.modules, self.optimizer,
                                          {"losses": losses, "config": self.config})
        seconds = time.perf_counter() - clock
        n = min(50, len(losses))
        return {"steps": steps, "resumed_from": start, "seconds": round(seconds, 1),
                "steps_per_s": round((steps - start) / seconds, 3) if seconds > 0 else None,
                "first_loss": sum(losses[:n]) / max(n, 1), "last_loss": sum(losses[-n:]) / max(n, 1),
                "losses": losses}


def _cosine(optimizer: Any, steps: int) -> Any:
    from diffusers.optimization import get_scheduler

    return get_scheduler("cosine", optimizer=optimizer, num_warmup_steps=min(100, steps // 10),
                         num_training_steps=steps)
