"""Plugin loading and the registries of detectors, generators, datasets, executors and feature extractors."""

from __future__ import annotations

import difflib
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from benchbench import __version__, hookspecs
from benchbench.builtins import hooks, observers
from benchbench.errors import PluginError, UserError

GROUP = "benchbench"
KINDS = ("detectors", "generators", "datasets", "executors", "feature_extractors")
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("benchbench_"))  # every hook a plugin may implement


@dataclass
class Entry:
    kind: str
    name: str
    target: Any  # callable or "pkg.module:Attr"
    plugin: str
    version: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def target_name(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return f"{getattr(self.target, '__module__', '?')}:{getattr(self.target, '__qualname__', repr(self.target))}"

    def resolve(self) -> Callable[..., Any]:
        if not isinstance(self.target, str):
            return self.target
        mod_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(mod_name)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except ImportError as exc:
            raise PluginError(f"{self.kind[:-1]} '{self.name}' (plugin {self.plugin}) cannot be imported: "
                              f"{exc} — fix: install the plugin's dependencies") from None
        except AttributeError as exc:
            raise PluginError(f"{self.kind[:-1]} '{self.name}' (plugin {self.plugin}): {exc}") from None
        return obj

    def options_model(self) -> Any:
        """The options model an executor was registered with (``options=``), or None."""
        model = self.meta.get("options")
        if isinstance(model, str):
            return Entry(self.kind, self.name, model, self.plugin, self.version).resolve()
        return model

    def create(self, **params: Any) -> Any:
        """Instantiate with matrix parameters; unknown parameters become a user error."""
        factory = self.resolve()
        try:
            return factory(**params)
        except TypeError as exc:
            if "argument" in str(exc):
                raise UserError(f"{self.kind[:-1]} '{self.name}': {exc}",
                                fix=f"check the parameters of plugin '{self.plugin}' (bench plugins --all)") from None
            raise


@dataclass(frozen=True)
class PluginRef:
    """One matrix row's plugin: its row name, the registered plugin it names and the row's parameters.

    This is what jobs carry to workers (picklable, no instance); a worker builds the object from it.
    """

    kind: str
    name: str  # the matrix row's name (what cells and results call it)
    plugin: str  # the registry name
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, kind: str, row: Any) -> PluginRef:
        """From a matrix row (benchbench.method.matrix.PluginSpec)."""
        return cls(kind, row.name, row.plugin_name, dict(row.params))

    @property
    def key(self) -> tuple[str, str, str]:
        return self.kind, self.plugin, json.dumps(self.params, sort_keys=True, default=str)


class Registry:
    """Name -> Entry for one kind; duplicate names with different targets are an error."""

    def __init__(self, kind: str):
        self.kind = kind
        self.entries: dict[str, Entry] = {}

    def add(self, entry: Entry) -> None:
        old = self.entries.get(entry.name)
        if old is not None and old.target_name != entry.target_name:
            raise PluginError(f"{self.kind[:-1]} name '{entry.name}' registered twice: by {old.plugin} "
                              f"({old.target_name}) and by {entry.plugin} ({entry.target_name})")
        self.entries[entry.name] = entry

    def get(self, name: str, *, field: str | None = None, file: str | None = None) -> Entry:
        if name in self.entries:
            return self.entries[name]
        close = difflib.get_close_matches(name, self.entries, n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else \
            f"available: {', '.join(sorted(self.entries)) or 'none'}"
        raise UserError(f"unknown {self.kind[:-1]} plugin '{name}'", file=file, field=field,
                        fix=f"{hint} (install the plugin, then check `bench plugins`)")

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __iter__(self):
        return iter(self.entries.values())


@dataclass
class PluginInfo:
    name: str
    version: str
    hooks: list[str] = field(default_factory=list)
    registers: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    builtin: bool = False
    dist: str | None = None  # the pip distribution providing it, when it came from an entry point
    module: str | None = None  # the entry point's module (its package's files are hashed for editable installs)


class Plugins:
    """Loads plugins once and builds the registries, recording provenance and errors."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.registries: dict[str, Registry] = {k: Registry(k) for k in KINDS}
        self._collected = False
        self._built: dict[tuple[str, str, str], Any] = {}

    # -- loading
    def load(self) -> Plugins:
        self._add(hooks, "benchbench", _dist_version("benchbench"), builtin=True)
        self._add(observers, "benchbench.observers", _dist_version("benchbench"), builtin=True)
        allow = os.environ.get("BENCHBENCH_PLUGINS")
        allowed = None if allow is None else {a.strip() for a in allow.split(",") if a.strip()}
        for ep in _entry_points():
            dist = ep.dist.name if ep.dist else ep.name
            if allowed is not None and dist not in allowed and ep.name not in allowed:
                continue
            version = ep.dist.version if ep.dist else "?"
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not lock users out of bench
                self.info[ep.name] = PluginInfo(ep.name, version, errors=[f"load failed: {_one_line(exc)}"],
                                                dist=dist)
                continue
            self._add(module, ep.name, version, dist=dist)
            self.info[ep.name].module = ep.module
        for mod_name in filter(None, os.environ.get("BENCHBENCH_PLUGIN_MODULES", "").split(",")):
            try:
                module = importlib.import_module(mod_name.strip())
            except Exception as exc:
                self.info[mod_name] = PluginInfo(mod_name, "?", errors=[f"load failed: {_one_line(exc)}"])
                continue
            self._add(module, mod_name.strip(), getattr(module, "__version__", "?"))
        if os.environ.get("BENCHBENCH_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        return self

    def register(self, obj: Any, name: str, version: str = "test") -> None:
        """Register an in-process plugin object (tests, notebooks)."""
        self._add(obj, name, version)
        self._forget()

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self.info.pop(name, None)
        self._forget()

    def _forget(self) -> None:
        self._collected = False
        self.registries = {k: Registry(k) for k in KINDS}
        self.forget_instances()

    def forget_instances(self) -> None:
        """A new run starts (``check_plugins``): weights on disk may have changed since the last one."""
        self._built.clear()

    def _add(self, obj: Any, name: str, version: str, builtin: bool = False, dist: str | None = None) -> None:
        info = PluginInfo(name, version, builtin=builtin, dist=dist)
        self.info[name] = info
        try:
            self.pm.register(obj, name=name)
            # A misspelt hook name is a validation error for that plugin only. pluggy accepts a @hookimpl
            # without a spec (it makes a hook for it), so the names are checked against our specs.
            callers = self.pm.get_hookcallers(obj) or []
            info.hooks += [hook.name for hook in callers]
            unknown = sorted({h.name for h in callers if h.name not in HOOKS}
                             | {a for a in dir(obj) if a.startswith("benchbench_") and a not in HOOKS
                                and callable(getattr(obj, a, None))})
            if unknown:
                close = difflib.get_close_matches(unknown[0], HOOKS, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "see docs/plugins.md for the hooks"
                raise pluggy.PluginValidationError(obj, f"unknown hook {unknown[0]!r} ({hint})")
        except (pluggy.PluginValidationError, ValueError) as exc:
            info.errors.append(f"invalid plugin: {_one_line(exc)}")
            if self.pm.is_registered(obj):
                self.pm.unregister(obj)

    # -- calling hooks
    def call_each(self, hook: str, kwargs: Callable[[str], dict[str, Any]]) -> list[tuple[str, Exception]]:
        """Call ``hook`` of each plugin on its own, through pluggy (so BENCHBENCH_TRACE_PLUGINS shows it),
        with ``kwargs(plugin_name)``; one plugin raising never stops the others. Returns the failures."""
        failed = []
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            others = [p for p in self.pm.get_plugins() if p is not impl.plugin]
            try:
                self.pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs(impl.plugin_name))
            except Exception as exc:
                failed.append((impl.plugin_name, exc))
        return failed

    # -- registries
    def collect(self) -> Plugins:
        if self._collected:
            return self
        for kind in KINDS:
            def arguments(plugin: str, _kind: str = kind) -> dict[str, Any]:
                info = self.info.get(plugin) or PluginInfo(plugin, "?")

                def register(name: str, factory: Any, **meta: Any) -> None:
                    self.registries[_kind].add(Entry(_kind, name, factory, info.name, info.version, meta))
                    info.registers.setdefault(_kind, []).append(name)

                return {"register": register}

            for plugin, exc in self.call_each(f"benchbench_register_{kind}", arguments):
                self.info.setdefault(plugin, PluginInfo(plugin, "?")).errors.append(
                    f"benchbench_register_{kind} failed: {_one_line(exc)}")
        self._collected = True
        return self

    def registry(self, kind: str) -> Registry:
        return self.collect().registries[kind]

    def instance(self, ref: PluginRef, *, field: str | None = None, file: str | None = None) -> Any:
        """The process's one object for ``ref`` (same plugin, same parameters), built on first use
        and kept until the next run's check (``forget_instances``).

        Validation, fingerprints, metadata and generation share it. Not for training: a detector
        holds its fitted model, so every cell builds its own (``Entry.create``).
        """
        key = ref.key
        if key not in self._built:
            self._built[key] = self.registry(ref.kind).get(ref.plugin, field=field, file=file).create(**ref.params)
        return self._built[key]

    def cell_finished(self, cell: Any, result: dict[str, Any]) -> list[str]:
        """Call every observer on its own; return the errors instead of raising."""
        failed = self.call_each("benchbench_cell_finished", lambda _plugin: {"cell": cell, "result": result})
        return [f"plugin {plugin}: benchbench_cell_finished failed: {_one_line(exc)}" for plugin, exc in failed]

    def versions(self) -> dict[str, str]:
        return {i.name: i.version for i in self.info.values()}


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=GROUP))


def _dist_version(name: str) -> str:
    # benchbench's own version without a metadata scan (~60 ms at start-up)

    return __version__


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


_PLUGINS: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin set, loaded on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = Plugins().load()
    return _PLUGINS


def reset_plugins() -> None:
    global _PLUGINS
    _PLUGINS = None
