"""`bench schema results|cell|answer`: the JSON Schema of a run folder's files."""

from __future__ import annotations

import json

import click

KINDS = ("results", "cell", "answer")


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
def schema(kind: str) -> None:
    """Print the JSON Schema of results.json, a cell record (cells/<id>.json) or answer.json.

    The schema is the authority on which keys these files hold; docs/results.md explains them.
    """
    from benchbench.records.schema import MODELS

    click.echo(json.dumps(MODELS[kind].model_json_schema(), indent=2))
