"""Torch helpers shared by plugins, public through ``benchbench.api``.

Each imports torch (or safetensors) inside its body, so importing this module stays torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchbench.errors import UserError


def torch_device(requested: str | None = None) -> str:
    """'cpu', 'cuda', 'cuda:1' or None/'auto' (CUDA when available); a missing GPU is a user error."""
    import torch  # torch: heavy, off the start-up path

    if requested in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device '{requested}' requested but no CUDA GPU is visible", field="device",
                        fix="set device: cpu (or auto)")
    return requested


def torch_generator(seed: int, device: str = "cpu") -> Any:
    """A seeded torch.Generator; per-image generators make image i independent of batching."""
    import torch  # torch: heavy, off the start-up path

    return torch.Generator(device=device).manual_seed(int(seed))


def save_state(state: dict[str, Any], path: str | Path) -> Path:
    """Save tensors with safetensors (never pickle)."""
    from safetensors.torch import save_file  # torch: heavy, off the start-up path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def load_state(path: str | Path, device: str = "cpu") -> dict[str, Any]:
    from safetensors.torch import load_file  # torch: heavy, off the start-up path

    p = Path(path)
    if not p.exists():
        raise UserError("weights not found", file=p, fix="train first or give the right path")
    return load_file(str(p), device=device)
