"""Train one unconditional DDPM per class from a Classes-layout folder (``crack/``, ``sane/``), or
with ``guided`` one class-conditional DDPM for classifier-free guidance (Ho & Salimans 2022): the
class label is replaced by the null class with probability ``cond_drop`` at each training sample,
so the same network predicts the conditional and the unconditional noise. With ``mask`` the guided model
also reads each frame's crack mask (``masks/`` beside ``crack/``, as ``bench data export`` writes it; zeros
for a sane frame) as one more input channel, dropped together with the class: ``ddpm-masked`` then draws a
frame around a given mask, and the mask gives its boxes.

Ho et al.'s objective (predict the added noise, 1000 linear-beta timesteps) with AdamW,
a warm-up + cosine schedule and random horizontal flips (cracks stay vertical). Every
random draw of step s comes from (seed, class, s) and checkpoints keep the optimizer
state, so ``resume`` continues exactly; a fixed probe batch is scored before and after.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchbench import diffusion
from benchbench.api import RESUME_STATE_DIR, UserError, seed_everything, torch_device, write_training_manifest
from benchbench_ddpm.model import CLASSES, GUIDED, NULL_CLASS, build_scheduler, build_unet, save_pipeline

RESUME_KEYS = ("size", "channels", "width", "levels", "layers", "attention", "batch", "lr", "lr_schedule",
               "warmup_steps", "seed", "flip", "init", "guided", "cond_drop", "mask")


@dataclass(kw_only=True)
class DdpmTrainConfig(diffusion.TrainingRun):
    data: Path
    out: Path
    size: int = 64
    channels: int = 1
    width: int = 64
    levels: int = 4
    layers: int = 2
    attention: bool = True
    steps: int | None = None
    epochs: int | None = None
    batch: int = 16
    lr: float = 1e-4
    lr_schedule: str = "cosine"
    warmup_steps: int = 500
    weight_decay: float = 1e-6
    max_grad_norm: float = 1.0
    flip: bool = True
    init: Path | None = None
    classes: tuple[str, ...] = CLASSES
    checkpoint_every: int = 1000
    probe_images: int = 8
    guided: bool = False
    cond_drop: float = 0.1
    mask: bool = False

    def validate(self) -> dict[str, list[Path]]:
        """Check options; return the image files per class."""
        super().validate()
        files = diffusion.class_images(self.data, self.classes)
        if self.steps is not None and self.epochs is not None:
            raise UserError("give --steps or --epochs, not both", field="--steps")
        for name in ("size", "width", "levels", "layers", "batch"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1", field="--" + name.replace("_", "-"))
        if self.channels not in (1, 3):
            raise UserError(f"channels must be 1 or 3, not {self.channels}", field="--channels")
        if self.init is None and self.size % 2 ** (self.levels - 1):
            raise UserError(f"size {self.size} must be divisible by {2 ** (self.levels - 1)}", field="--size",
                            fix="use a multiple of 8 (4 levels) or fewer --levels")
        if self.init is None and self.width % 8:
            raise UserError(f"width must be a multiple of 8, not {self.width}", field="--width")
        if self.lr <= 0:
            raise UserError("learning rate must be positive", field="--lr")
        if not 0 < self.cond_drop < 1:
            raise UserError(f"cond-drop must be in (0, 1), not {self.cond_drop}", field="--cond-drop",
                            fix="e.g. 0.1: one sample in ten trains the unconditional branch")
        if self.mask and not self.guided:
            raise UserError("--mask conditions the guided model on crack masks", field="--mask", fix="add --guided")
        if self.mask:
            diffusion.require_training_masks(files["crack"], field="--data")
        if self.guided and tuple(self.classes) != CLASSES:
            raise UserError("a guided model learns both classes", field="--class", fix="drop --class with --guided")
        if self.init is not None:
            for label in self.models():
                diffusion.require_pipeline_dir(Path(self.init) / label, field=f"--init ({label}/)")
        return files

    def models(self) -> tuple[str, ...]:
        """The model folders this run writes: one per class, or the one guided model."""
        return (GUIDED,) if self.guided else tuple(self.classes)

    def steps_for(self, n_images: int) -> int:
        if self.steps is not None:
            return max(1, int(self.steps))
        epochs = 100 if self.epochs is None else self.epochs
        return max(1, math.ceil(epochs * n_images / self.batch))


def train_ddpm(cfg: DdpmTrainConfig) -> dict[str, Any]:
    """Train (or resume) every class, or the guided model; save ``out/<class>`` (or ``out/guided``)
    DDPMPipeline folders and ``out/train_log.json``."""
    files = cfg.validate()
    device = torch_device(cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log: dict[str, Any] = {"config": _config_dict(cfg), "device": device, "classes": {}}
    if cfg.guided:
        paths = [p for label in CLASSES for p in files[label]]
        labels = [k for k, label in enumerate(CLASSES) for _ in files[label]]
        log["classes"][GUIDED] = _train_model(cfg, GUIDED, len(CLASSES), paths, labels, out, device)
    for k, label in enumerate(() if cfg.guided else cfg.classes):
        log["classes"][label] = _train_model(cfg, label, k, files[label], None, out, device)
    (out / "train_log.json").write_text(json.dumps(log, indent=1))
    # a fine-tuned model also learnt what its --init did: the guard reads those frames too
    write_training_manifest(out, cfg.data, files, trainer="bench train ddpm", base=cfg.init)
    return log


def _train_model(cfg: DdpmTrainConfig, label: str, k: int, paths: list[Path], classes: list[int] | None,
                 out: Path, device: str) -> dict[str, Any]:
    """Train model ``label`` (a class, or ``guided`` with the images' ``classes``); its seed stream is ``k``."""
    import numpy as np
    import torch
    from accelerate import Accelerator
    from diffusers import DDPMPipeline
    from diffusers.optimization import get_scheduler


    started = time.time()
    seed = cfg.seed * len(CLASSES) + k  # models never share noise (their step streams are named, too)
    seed_everything(seed)
    if cfg.init is not None:
        with diffusion.quiet_loading():
            init = DDPMPipeline.from_pretrained(str(Path(cfg.init) / label), local_files_only=True)
        unet, scheduler = init.unet, init.scheduler
        if diffusion.takes_mask(unet) != cfg.mask:
            if diffusion.takes_mask(unet):
                raise UserError(f"{cfg.init} holds a mask-conditioned model", field="--init", fix="add --mask")
            unet = diffusion.with_mask_channel(unet)
    else:
        unet = build_unet(size=cfg.size, channels=cfg.channels, width=cfg.width, levels=cfg.levels,
                          layers=cfg.layers, attention=cfg.attention, conditional=classes is not None,
                          mask=cfg.mask)
        scheduler = build_scheduler()
    size, channels = int(unet.config.sample_size), int(unet.config.out_channels)
    images = torch.from_numpy(np.stack([diffusion.load_training_image(p, size, channels) for p in paths]))
    masks = torch.from_numpy(np.stack([diffusion.training_mask(p, size) for p in paths])) if cfg.mask else None
    class_of = None if classes is None else torch.tensor(classes, dtype=torch.long)
    steps = cfg.steps_for(len(paths))

    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=device == "cpu")
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_scheduler = get_scheduler(cfg.lr_schedule, optimizer=optimizer, num_warmup_steps=min(cfg.warmup_steps, steps),
                                 num_training_steps=steps)
    checkpoints = diffusion.Checkpoints(out / RESUME_STATE_DIR / label, keep=cfg.checkpoints_keep)
    config = _config_dict(cfg)
    hist: dict[str, Any] = {"losses": [], "probe": []}
    start = 0
    latest = checkpoints.latest() if cfg.resume else None
    if latest is not None:
        state = checkpoints.load(latest, {"unet": unet}, optimizer)
        _check_resumable(state.get("config", {}), config, latest)
        start = int(state["step"])
        hist["losses"], hist["probe"] = state.get("losses", []), state.get("probe", [])
        diffusion.advance_schedule(lr_scheduler, start)
    unet, optimizer = accelerator.prepare(unet, optimizer)

    n_probe = min(cfg.probe_images, len(paths))
    # a guided model's probe is spread over the images so that it holds both classes
    probe_index = (torch.arange(n_probe) if class_of is None
                   else torch.linspace(0, len(paths) - 1, n_probe).round().long())
    probe_noise, probe_t = diffusion.probe_noise(n_probe, (channels, size, size), seed,
                                                 scheduler.config.num_train_timesteps)

    def loss_of(clean: Any, noise: Any, timesteps: Any, cls: Any, mask: Any = None) -> Any:
        clean, noise, timesteps = (t.to(accelerator.device) for t in (clean, noise, timesteps))
        noisy = scheduler.add_noise(clean, noise, timesteps)
        if mask is not None:
            noisy = torch.cat([noisy, mask.to(accelerator.device)], dim=1)
        with accelerator.autocast():
            pred = unet(noisy, timesteps, class_labels=None if cls is None else cls.to(accelerator.device)).sample
        return torch.nn.functional.mse_loss(pred.float(), noise.float())

    def probe(step: int) -> None:
        unet.eval()
        with torch.no_grad():
            cls = None if class_of is None else class_of[probe_index]
            mask = None if masks is None else masks[probe_index]
            hist["probe"].append([step, float(loss_of(images[probe_index], probe_noise, probe_t, cls, mask))])
        unet.train()

    if not hist["probe"] or hist["probe"][-1][0] != start:
        probe(start)
    unet.train()
    with diffusion.progress_bar(steps, f"ddpm {label}", quiet=cfg.quiet, start=start) as update:
        for step in range(start, steps):
            gen = diffusion.step_generator(seed, step, stream=f"ddpm-{label}")
            index = diffusion.batch_indices(len(paths), cfg.batch, step, seed)
            clean = images[index]
            mask = None if masks is None else masks[index]
            if cfg.flip:
                flip = torch.rand(clean.shape[0], generator=gen) < 0.5
                clean = torch.where(flip[:, None, None, None], clean.flip(-1), clean)
                if mask is not None:
                    mask = torch.where(flip[:, None, None, None], mask.flip(-1), mask)
            noise = torch.randn(clean.shape, generator=gen)
            timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (clean.shape[0],), generator=gen)
            cls = None
            if class_of is not None:  # drawn last: an unconditional run's draws stay as they were
                drop = torch.rand(clean.shape[0], generator=gen) < cfg.cond_drop
                cls = torch.where(drop, NULL_CLASS, class_of[index])
                if mask is not None:  # the null branch sees neither class nor mask: guidance pushes towards both
                    mask = torch.where(drop[:, None, None, None], 0.0, mask)
            loss = loss_of(clean, noise, timesteps, cls, mask)
            accelerator.backward(loss)
            value = float(loss.detach())
            done = diffusion.optimizer_step(accelerator, unet.parameters(), optimizer, lr_scheduler, loss=value,
                                            step=step, losses=hist["losses"], max_grad_norm=cfg.max_grad_norm,
                                            what=f"{label}: ")
            update(loss=value)
            if done % cfg.checkpoint_every == 0 and done < steps:
                checkpoints.save(done, {"unet": accelerator.unwrap_model(unet)}, optimizer,
                                 {"losses": hist["losses"], "probe": hist["probe"], "config": config})
    probe(steps)
    model = accelerator.unwrap_model(unet)
    save_pipeline(model if model.dtype == torch.float32 else model.to(torch.float32), scheduler, out / label)
    n = min(10, len(hist["losses"]))
    hist.update(images=len(paths), steps=steps, resumed_from=start, size=size, channels=channels,
                seconds=round(time.time() - started, 2),
                first_losses_mean=sum(hist["losses"][:n]) / max(n, 1),
                last_losses_mean=sum(hist["losses"][-n:]) / max(n, 1))
    return hist


def _config_dict(cfg: DdpmTrainConfig) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(cfg).items()}


def _check_resumable(saved: dict[str, Any], now: dict[str, Any], path: Path) -> None:
    for key in RESUME_KEYS:
        if key in saved and saved[key] != now[key]:
            raise UserError(f"checkpoint {path.parent.name}/{path.name} was made with {key}={saved[key]!r}, "
                            f"not {now[key]!r}", field="--resume",
                            fix=f"use the same --{key.replace('_', '-')} or a new --out")
