"""Shared diffusion toolkit for generator plugins (``benchbench-sd``, ``benchbench-ddpm``).

Generator plugins reach it as ``benchbench.diffusion``; it holds the code they would
otherwise copy between each other:

* per-image seeding (:func:`image_seed`) and the batched, per-image seeded generation
  loop (:func:`generate_frames`) that makes frame i bit-identical whatever the request's
  ``n`` and ``start_index``; :class:`PipelineGenerator`, the generator around it (one
  pipeline folder per class, loaded once, parameters checked by :func:`check_output_params`);
  :func:`generation_speed` for the plugins' speed scripts;
* conversion of pipeline outputs to the frame format of the real data (8-bit, 3-channel,
  grey content by default) (:func:`to_frame_images`);
* weights fingerprints of diffusers pipeline folders (:func:`pipeline_fingerprint`);
* training-loop utilities: image folders, step-deterministic batches and noise
  (:func:`batch_indices`, :func:`step_generator`), checkpoints with resume
  (:class:`Checkpoints`, :func:`advance_schedule`), a progress bar (:func:`progress_bar`);
* CLI wiring for plugin commands (:func:`add_generator_commands`, :func:`init_tiny_command`,
  :func:`training_summary`, :func:`ensure_group`);
* test support: :func:`check_generator` (protocol conformance).

Importing this module is cheap: torch, diffusers, PIL and rich are imported inside the
functions that need them, so plugins may import it from their hook modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchbench.errors import UserError
from benchbench.frames import Frame
from benchbench.hashing import dir_fingerprint, file_sha256
from benchbench.protocols import CellContext, GenerationRequest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# ITU-R BT.601 luma: the weights PIL's "L" conversion uses, so grey output matches PIL.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


# --------------------------------------------------------------------------- seeding
def image_seed(seed: int, label: str, index: int) -> int:
    """The torch seed of image ``index`` of class ``label`` for run seed ``seed``.

    A hash (not ``seed + index``) so that neighbouring run seeds never share images.
    """
    digest = hashlib.sha256(f"benchbench:{int(seed)}:{label}:{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def step_seed(seed: int, step: int, stream: str = "train") -> int:
    """Seed of one training step: every random draw of step s depends only on (seed, s)."""
    digest = hashlib.sha256(f"benchbench:{stream}:{int(seed)}:{int(step)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def step_generator(seed: int, step: int, stream: str = "train") -> Any:
    """A CPU ``torch.Generator`` for one training step (bit-identical after a resume)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(step_seed(seed, step, stream))


def batch_indices(n: int, batch: int, step: int, seed: int) -> list[int]:
    """Sample indices of training step ``step``: a fresh permutation of ``range(n)`` per epoch.

    Depends only on (n, batch, step, seed), so a resumed run sees the same batches.
    """
    if n <= 0:
        raise ValueError("no training samples")
    out: list[int] = []
    pos = step * batch
    while len(out) < batch:
        epoch, offset = divmod(pos, n)
        perm = np.random.default_rng([int(seed) % (2**32), epoch]).permutation(n)
        take = min(batch - len(out), n - offset)
        out.extend(int(i) for i in perm[offset:offset + take])
        pos += take
    return out


def probe_noise(n: int, shape: Sequence[int], seed: int, num_train_timesteps: int) -> tuple[Any, Any]:
    """Fixed noise (n, *shape) and n timesteps spread over 5-95 % of the schedule.

    With fixed images these give a "probe" denoising loss that is comparable between
    training steps (the per-step loss jumps with its random timesteps).
    """
    import torch

    gen = step_generator(seed, 0, stream="probe")
    noise = torch.randn((n, *shape), generator=gen)
    timesteps = torch.linspace(num_train_timesteps * 0.05, num_train_timesteps * 0.95, n).long()
    return noise, timesteps


# --------------------------------------------------------------------------- images
def to_frame_images(images: np.ndarray | Sequence[np.ndarray], *, channels: int = 1,
                    size: int | None = None) -> list[np.ndarray]:
    """Pipeline outputs -> HxWx3 uint8 arrays in the format of real FLYD frames.

    ``images``: (B, H, W, C) floats in [0, 1] (diffusers ``output_type="np"``) or uint8,
    C = 1 or 3. ``channels=1`` gives grey content (BT.601 luma) repeated on 3 channels,
    as in the real 8-bit JPEGs; ``channels=3`` keeps the model's colours. ``size``
    resizes (bicubic) to a ``size`` x ``size`` frame when the model's resolution differs.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        if arr.shape[2] == 1:
            arr = np.repeat(arr, 3, axis=2)
        elif channels == 1:
            grey = np.clip(np.rint(arr[:, :, :3].astype(np.float64) @ _LUMA), 0, 255).astype(np.uint8)
            arr = np.repeat(grey[:, :, None], 3, axis=2)
        else:
            arr = arr[:, :, :3]
        if size is not None and (arr.shape[0] != size or arr.shape[1] != size):
            arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.Resampling.BICUBIC))
        out.append(np.ascontiguousarray(arr))
    return out


def list_images(folder: str | os.PathLike, *, field: str = "data") -> list[Path]:
    """Image files directly in ``folder``, sorted by name; a user error when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"image folder not found: {root}", field=field, fix="give an existing folder of images")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}", field=field,
                        fix="put training images in that folder")
    return files


def load_training_image(path: str | os.PathLike, size: int, channels: int) -> np.ndarray:
    """One image as a CxHxW float32 array in [-1, 1]: shorter side resized to ``size``, centre crop."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        im = im.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- generation
def generate_frames(sample: Callable[[list[Any]], np.ndarray], req: GenerationRequest, *, name: str,
                    batch: int, channels: int = 1,
                    report: Callable[[str, float | None], None] | None = None) -> list[Frame]:
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
    """
    import torch

    if batch < 1:
        raise UserError("batch must be at least 1", field="batch", fix="set batch: 1 or more")
    frames: list[Frame] = []
    first, stop = req.start_index, req.start_index + req.n
    for lo in range(first - first % batch, stop, batch):
        group = list(range(lo, lo + batch))
        gens = [torch.Generator(device="cpu").manual_seed(image_seed(req.seed, req.label, i)) for i in group]
        with torch.inference_mode():
            images = sample(gens)
        keep = [(i, img) for i, img in zip(group, images, strict=True) if first <= i < stop]
        converted = to_frame_images([img for _, img in keep], channels=channels, size=req.size)
        for (i, _), img in zip(keep, converted, strict=True):
            frames.append(Frame(
                path=None, width=int(img.shape[1]), height=int(img.shape[0]), label=req.label,
                boxes=None if req.label == "crack" else (), source=f"synthetic:{name}", image=img,
                meta={"name": f"{name}-{req.label}-{req.seed}-{i:06d}"}))
        if report is not None:
            report(f"generate {req.label} {len(frames)}/{req.n}", len(frames) / max(req.n, 1))
    return frames


def torch_dtype(dtype: str, device: str) -> Any:
    """'auto' (float16 on CUDA, float32 elsewhere), 'float32', 'float16' or 'bfloat16'."""
    import torch

    if dtype == "auto":
        return torch.float16 if str(device).startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise UserError(f"unknown dtype '{dtype}'", field="dtype",
                        fix="use auto, float32, float16 or bfloat16") from None


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
        sample = self._sampler(self.pipeline(req.label, ctx), req)
        return generate_frames(sample, req, name=self.name, batch=self.batch, channels=self.channels,
                               report=ctx.report)

    def training_manifest(self) -> dict[str, Any] | None:
        """What the weights were trained on (``bench train`` writes it), or None: provenance unknown."""
        from benchbench.provenance import find_manifest, read_manifest

        path = find_manifest(self.folders.values())
        return read_manifest(path) if path is not None else None

    def pipeline(self, label: str, ctx: CellContext | None = None) -> Any:
        """The loaded pipeline of class ``label``."""
        folder = self.folders[label]
        if folder not in self._pipes:
            from benchbench.torchkit import torch_device

            device = torch_device(self.device or (ctx.device if ctx is not None else None))
            self._pipes[folder] = self._load(folder, device)
        return self._pipes[folder]


def generation_speed(gen: Any, ctx: CellContext, *, n: int, size: int,
                     guidance: float | None = None) -> dict[str, float]:
    """Wall frames per second and CPU seconds per frame of ``gen`` generating ``n`` crack frames.

    A one-frame request first loads the pipeline and warms the kernels up; it costs a whole
    batch, as :func:`generate_frames` computes aligned groups.
    """
    import time

    gen.generate(GenerationRequest(label="crack", n=1, guidance=guidance, seed=99, size=size), ctx)
    wall, cpu = time.perf_counter(), time.process_time()
    gen.generate(GenerationRequest(label="crack", n=n, guidance=guidance, seed=1, size=size), ctx)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"frames_per_s": round(n / wall, 3), "cpu_s_per_frame": round(cpu / n, 3)}


# --------------------------------------------------------------------------- weights
@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence diffusers/transformers loading bars and warnings (the harness shows its own progress)."""
    from diffusers.utils import logging as dlog

    mods = [dlog]
    try:  # transformers is only there for pipelines with text encoders
        from transformers.utils import logging as tlog

        mods.append(tlog)
    except ImportError:
        pass
    states = [(mod, mod.is_progress_bar_enabled(), mod.get_verbosity()) for mod in mods]
    for mod, _, _ in states:
        mod.disable_progress_bar()
        mod.set_verbosity_error()
    try:
        yield
    finally:
        for mod, enabled, verbosity in states:
            if enabled:
                mod.enable_progress_bar()
            mod.set_verbosity(verbosity)


def require_pipeline_dir(value: str | os.PathLike | None, *, field: str) -> Path:
    """A local diffusers pipeline folder (with model_index.json) or a one-line user error."""
    if value is None or str(value) == "":
        raise UserError("a local diffusers pipeline folder is required", field=field,
                        fix=f"set {field}: to a folder saved with save_pretrained (benchbench never downloads)")
    path = Path(value).expanduser()
    if not path.exists():
        raise UserError(f"weights not found at {path}", field=field,
                        fix="give a local diffusers folder (benchbench never downloads)")
    if not (path / "model_index.json").is_file():
        raise UserError(f"{path} is not a diffusers pipeline folder (no model_index.json)", field=field,
                        fix="point it at the folder written by save_pretrained / bench train")
    return path


def pipeline_fingerprint(folder: str | os.PathLike, skip: Sequence[str] = ()) -> str:
    """Hash of a pipeline folder's model_index.json and every file of its components.

    Only the component folders named in model_index.json count, so checkpoints or
    sample images kept beside the pipeline do not change the fingerprint. ``skip``
    names components that are never loaded (e.g. ``safety_checker``, 1.2 GB in SD v1.5).
    """
    root = Path(folder)
    index_path = root / "model_index.json"
    index = json.loads(index_path.read_text())
    h = hashlib.sha256(file_sha256(index_path).encode())
    for comp in sorted(k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)
                       and v and v[0] is not None and k not in skip):
        sub = root / comp
        if sub.is_dir():
            h.update(f"{comp}:{dir_fingerprint(sub)}".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- training
class Checkpoints:
    """Training checkpoints under ``root/step-NNNNNNN``: module weights (safetensors),
    optimizer state (``torch.load(weights_only=True)``-safe) and a JSON state.

    Modules are anything with ``state_dict``/``load_state_dict``; the step-deterministic
    batches and noise of :func:`batch_indices`/:func:`step_generator` make a resumed run
    continue exactly where the interrupted one would have gone.
    """

    def __init__(self, root: str | os.PathLike, keep: int = 2):
        self.root = Path(root)
        self.keep = max(1, int(keep))

    def list(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("step-*") if (p / "state.json").is_file())

    def latest(self) -> Path | None:
        found = self.list()
        return found[-1] if found else None

    def save(self, step: int, modules: dict[str, Any], optimizer: Any, state: dict[str, Any]) -> Path:
        import torch

        from benchbench.torchkit import save_state

        final = self.root / f"step-{step:07d}"
        tmp = self.root / f".tmp-step-{step:07d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, module in modules.items():
            save_state({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp / f"{name}.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)  # atomic: a half-written checkpoint is never picked by latest()
        for old in self.list()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, path: str | os.PathLike, modules: dict[str, Any], optimizer: Any) -> dict[str, Any]:
        import torch

        from benchbench.torchkit import load_state

        path = Path(path)
        for name, module in modules.items():
            module.load_state_dict(load_state(path / f"{name}.safetensors"))
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu"))
        return json.loads((path / "state.json").read_text())


def advance_schedule(lr_scheduler: Any, steps: int) -> None:
    """Replay ``steps`` learning-rate schedule steps after a resume (schedules are functions of
    the step), without torch's "lr_scheduler.step() before optimizer.step()" warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
        for _ in range(steps):
            lr_scheduler.step()


@contextmanager
def progress_bar(total: int, description: str, *, quiet: bool = False,
                 start: int = 0) -> Iterator[Callable[..., None]]:
    """A rich progress bar; yields ``update(advance=1, **fields)`` (fields shown, e.g. loss)."""
    if quiet:
        yield lambda advance=1, **fields: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"), transient=False) as prog:
        task = prog.add_task(description, total=total, completed=start, info="")

        def update(advance: int = 1, **fields: Any) -> None:
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            prog.update(task, advance=advance, info=info)

        yield update


# --------------------------------------------------------------------------- CLI
# Whichever plugin creates a group first sets its help, so the texts live here, once.
GROUP_HELP = {"train": "Train generators.", "generators": "Generator weights utilities.",
              "init-tiny": "Write a small randomly initialised pipeline (offline; for tests, CI and demos)."}


def add_generator_commands(cli: Any, *, train: Any, init_tiny: Any) -> None:
    """Add a plugin's ``bench train NAME`` and ``bench generators init-tiny NAME`` commands,
    creating the groups when core (or another plugin) has not."""
    ensure_group(cli, "train", GROUP_HELP["train"]).add_command(train)
    generators = ensure_group(cli, "generators", GROUP_HELP["generators"])
    ensure_group(generators, "init-tiny", GROUP_HELP["init-tiny"]).add_command(init_tiny)


def training_summary(out: str | os.PathLike, log: dict[str, Any]) -> str:
    """The line a ``bench train`` command prints for one saved pipeline; ``log`` holds its
    ``steps``, ``seconds`` and ``probe`` ((step, loss) pairs: the loss on fixed probe noise)."""
    probe = log["probe"]
    return (f"saved {out} ({log['steps']} steps, {log['seconds']:.0f} s; probe loss "
            f"{probe[0][1]:.4f} -> {probe[-1][1]:.4f})")


def init_tiny_command(name: str, build: str, *, size: int, multiple: int, channels: int, help: str) -> Any:
    """The ``bench generators init-tiny NAME OUT`` command of a plugin.

    It checks ``--size`` (a multiple of ``multiple``) and calls ``build(out, size=, channels=, seed=)``,
    named "module:function" so that the builder (which imports torch) is imported only when
    the command runs; ``size`` and ``channels`` are the option defaults.
    """
    import importlib

    import click

    @click.command(name, help=help)
    @click.argument("out", type=click.Path(path_type=Path, file_okay=False))
    @click.option("--size", default=size, show_default=True, type=int,
                  help=f"Native resolution (multiple of {multiple}).")
    @click.option("--channels", default=str(channels), show_default=True, type=click.Choice(["1", "3"]),
                  help="Image channels: 1 grey, 3 RGB.")
    @click.option("--seed", default=0, show_default=True, type=int)
    def command(out: Path, size: int, channels: str, seed: int) -> None:
        if size % multiple or size < multiple:
            raise UserError(f"size must be a multiple of {multiple}, not {size}", field="--size")
        module, _, attr = build.partition(":")
        written = getattr(importlib.import_module(module), attr)(out, size=size, channels=int(channels), seed=seed)
        from benchbench.provenance import write_training_manifest

        write_training_manifest(out, None, {}, trainer=f"bench generators init-tiny {name} (random weights)")
        click.echo(f"wrote {written}")

    return command


def ensure_group(parent: Any, name: str, help: str | None = None) -> Any:
    """The click sub-group ``name`` of ``parent``, created when core (or another plugin) has not."""
    import click

    group = parent.commands.get(name) if hasattr(parent, "commands") else None
    if group is None:
        group = click.Group(name=name, help=help)
        parent.add_command(group)
    elif not isinstance(group, click.Group):
        raise TypeError(f"bench command '{name}' exists and is not a group")
    return group


# --------------------------------------------------------------------------- test support
def check_generator(make: Callable[[], Any], ctx: Any, *, size: int = 64, guidance: float | None = 7.5,
                    gives_boxes: bool = False) -> dict[str, Any]:
    """Check the Generator protocol on fresh instances from ``make()``; raise AssertionError.

    Checked: name/version strings and a stable 64-hex fingerprint; frames of both classes
    (count, uint8 HxWx3 at ``size``, label, boxes None for cracks unless ``gives_boxes``
    and () for sane frames, ``synthetic:<name>`` source, unique meta names, no path);
    the same request on a fresh instance gives identical bytes; a ``start_index`` request
    gives the same bytes as the matching part of a longer request; another seed differs.
    """
    gen = make()
    assert isinstance(gen.name, str) and gen.name, "generator needs a non-empty name"
    assert isinstance(gen.version, str) and gen.version, "generator needs a version string"
    fp = gen.fingerprint()
    assert isinstance(fp, str) and len(fp) == 64 and fp == make().fingerprint(), "fingerprint must be stable"
    frames: dict[str, list[Frame]] = {}
    for label in ("crack", "sane"):
        req = GenerationRequest(label=label, n=4, guidance=guidance, seed=11, size=size)
        got = gen.generate(req, ctx)
        assert len(got) == 4, f"{label}: asked 4 frames, got {len(got)}"
        for f in got:
            assert isinstance(f, Frame) and f.path is None and f.label == label
            assert f.image is not None and f.image.dtype == np.uint8 and f.image.shape == (size, size, 3), \
                f"{label}: image must be uint8 {size}x{size}x3"
            assert (f.width, f.height) == (size, size)
            assert f.source == f"synthetic:{gen.name}"
            if label == "sane":
                assert f.boxes == (), "sane frames carry no boxes: ()"
            elif not gives_boxes:
                assert f.boxes is None, "cracked frames without localisation must have boxes=None"
        frames[label] = got
    names = [f.meta["name"] for fs in frames.values() for f in fs]
    assert len(set(names)) == len(names), "meta names must be unique"
    again = make().generate(GenerationRequest(label="crack", n=4, guidance=guidance, seed=11, size=size), ctx)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames["crack"], again, strict=True)), \
        "same seed on a fresh instance must give identical bytes"
    tail = gen.generate(GenerationRequest(label="crack", n=2, guidance=guidance, seed=11, size=size,
                                          start_index=2), ctx)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames["crack"][2:], tail, strict=True)), \
        "start_index=2 must give frames 2 and 3 of the longer request"
    other = gen.generate(GenerationRequest(label="crack", n=1, guidance=guidance, seed=12, size=size), ctx)
    assert not np.array_equal(other[0].image, frames["crack"][0].image), "another seed must give another frame"
    return {"name": gen.name, "fingerprint": fp, "frames": sum(len(v) for v in frames.values())}


__all__ = [
    "image_seed", "step_seed", "step_generator", "batch_indices", "probe_noise", "to_frame_images", "list_images",
    "load_training_image", "generate_frames", "check_output_params", "PipelineGenerator", "generation_speed",
    "torch_dtype", "require_pipeline_dir", "pipeline_fingerprint", "quiet_loading", "Checkpoints",
    "advance_schedule", "progress_bar", "add_generator_commands", "init_tiny_command", "training_summary",
    "ensure_group", "IMAGE_SUFFIXES", "GROUP_HELP", "check_generator",
]
