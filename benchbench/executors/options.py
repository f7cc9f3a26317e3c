"""Executor options: each executor declares a model of them, so the core needs no flag per engine.

An executor is registered with its model (``register("ray", factory, options=RayOptions)``, a
pydantic model or a dataclass, or an import string to one). The matrix's ``executor:`` mapping and
``bench run -x KEY=VALUE`` are checked against it before any data is loaded: an unknown key or a
bad value is a user error (exit 2) naming the key, the executor and its valid options.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from benchbench.errors import MissingDependency, UserError


def option_fields(model: Any) -> dict[str, str]:
    """Option name -> its description (empty when the model gives none)."""
    if hasattr(model, "model_fields"):
        return {name: f.description or "" for name, f in model.model_fields.items()}
    if dataclasses.is_dataclass(model):
        return {f.name: str(f.metadata.get("description", "")) for f in dataclasses.fields(model)}
    raise TypeError(f"{model!r} is neither a pydantic model nor a dataclass")


def parse_options(model: Any, options: Mapping[str, Any], executor: str, *,
                  where: Mapping[str, tuple[str | None, str]] | None = None) -> dict[str, Any]:
    """``options`` checked and converted by ``model``: every option, defaults included.

    ``where[key]`` = (file, field) names where a key came from (the matrix file and ``executor.KEY``,
    or no file and ``-x KEY``); by default ``executor.KEY``.
    """
    fields = option_fields(model)

    def located(key: str) -> tuple[str | None, str]:
        return (where or {}).get(key, (None, f"executor.{key}"))

    valid = ", ".join(fields) or "none"
    for key in options:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            file, field = located(key)
            raise UserError(f"unknown option {key!r} of the {executor} executor", file=file, field=field,
                            fix=f"{hint}valid options: {valid} (docs/scale-out.md)")
    try:
        parsed = TypeAdapter(model).validate_python(dict(options))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else next(iter(options), "")
        file, field = located(key) if key in fields else (None, "executor")
        shown = f"{key}={options[key]!r}" if key in options else "its options"
        about = fields.get(key, "")
        raise UserError(f"the {executor} executor rejects {shown}: {err['msg'].removeprefix('Value error, ')}",
                        file=file, field=field, fix=f"{key}: {about}" if about else f"valid options: {valid}"
                        ) from None
    return {name: getattr(parsed, name) for name in fields}


def engine_options(model: Any, options: Mapping[str, Any], executor: str, *, engine: str, extra: str
                   ) -> tuple[dict[str, Any], Any]:
    """An engine-backed executor's checked options and the engine's module (``ray``, ``submitit``).

    The options are checked first, so a bad one is reported even where the engine is not installed;
    the engine is imported only here, when the executor is made: it is an optional extra and slow to import.
    """
    parsed = parse_options(model, options, executor)
    try:
        return parsed, importlib.import_module(engine)
    except ImportError:
        raise MissingDependency(engine, extra=extra, purpose=f"--executor {executor}") from None


def executor_options(plugins: Any, name: str, options: Mapping[str, Any], *, file: str | None = None,
                     field: str = "executor.name", where: Mapping[str, tuple[str | None, str]] | None = None
                     ) -> tuple[Any, dict[str, Any]]:
    """The executor's registry entry and its options, checked by its own model when it declares one."""
    entry = plugins.registry("executors").get(name, field=field, file=file)
    model = entry.options_model()
    if model is None:
        return entry, dict(options)
    return entry, parse_options(model, options, name, where=where)


def parse_cli_options(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``-x KEY=VALUE`` pairs; each VALUE is read as YAML, as in the matrix (2, 0.5, true, {a: 1}, auto)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"executor option {pair!r} is not KEY=VALUE", field="-x",
                            fix="e.g. -x num_gpus=1 -x address=auto")
        try:
            out[key] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"the value of executor option {key} is not valid YAML: {str(exc).splitlines()[0]}",
                            field=f"-x {key}", fix="quote it, e.g. -x key='a: b'") from None
    return out


def run_executor_options(plugins: Any, matrix: Any, matrix_file: str | None, name: str | None,
                         cli: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The executor of a run and its checked options: the matrix's ``executor:`` mapping (when the run
    uses the matrix's executor), then ``-x KEY=VALUE`` (and ``--workers``) over it."""
    named = (None, "--executor") if name else (matrix_file, "executor.name")
    name = name or matrix.executor.name
    own = matrix.executor.params if name == matrix.executor.name else {}
    where = {k: (matrix_file, f"executor.{k}") for k in own} | {k: (None, f"-x {k}") for k in cli}
    return executor_options(plugins, name, {**own, **cli}, file=named[0], field=named[1], where=where)
