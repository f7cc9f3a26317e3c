"""Results must not silently come from old code while a plugin is being developed.

A cell is reused while its key (plugin version, parameters, data, ...) is unchanged, and an author
editing an editable install (``pip install -e``) rarely bumps the version. So for each plugin whose
distribution is editable (``direct_url.json`` says ``dir_info.editable``), the runner stamps each
finished cell with a hash of the plugin package's files, and ``bench run`` warns when a reused
cell's hash differs from the code installed now. The key is left alone: a comment or a log line
must not throw away hours of training, and ``--fresh`` or a version bump reruns what should be.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any


def is_editable(distribution: str) -> bool:
    try:
        text = metadata.distribution(distribution).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    try:
        return bool(json.loads(text or "{}").get("dir_info", {}).get("editable"))
    except (json.JSONDecodeError, AttributeError):
        return False


def package_hash(module: str) -> str | None:
    """sha256 of the files of ``module``'s top-level package (a single module: its file); None if not found."""
    try:
        spec = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        files = [p for d in spec.submodule_search_locations for p in sorted(Path(d).rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
        roots = [Path(d) for d in spec.submodule_search_locations]
    elif spec.origin and Path(spec.origin).is_file():
        files, roots = [Path(spec.origin)], [Path(spec.origin).parent]
    else:
        return None
    h = hashlib.sha256()
    for f in files:
        root = next(r for r in roots if f.is_relative_to(r))
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def editable_code(plugins: Iterable[Any]) -> dict[str, str]:
    """Plugin name -> code hash, for the loaded plugins (PluginInfo) installed editable."""
    out = {}
    for info in plugins:
        if info.dist and info.module and is_editable(info.dist):
            digest = package_hash(info.module)
            if digest:
                out[info.name] = digest
    return out


def stale_warnings(cells: Iterable[Mapping[str, Any]], code: Mapping[str, str],
                   dists: Mapping[str, str | None]) -> list[str]:
    """One warning per editable plugin whose code differs from what reused ``cells`` recorded."""
    stale: dict[str, list[str]] = {}
    for cell in cells:
        for plugin, digest in (cell.get("plugin_code") or {}).items():
            if plugin in code and code[plugin] != digest:
                stale.setdefault(plugin, []).append(str(cell.get("id")))
    return [f"plugin {p} ({dists.get(p) or p}) is an editable install whose code changed since {len(ids)} reused "
            f"cell(s) were computed ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}): their results come "
            "from the old code — rerun with `bench run MATRIX --fresh`, or bump the plugin's version (part of "
            "every cell's key)" for p, ids in sorted(stale.items())]
