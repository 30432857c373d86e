"""``radlite model …`` and ``radlite eval``: the offline model pipeline's verbs."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("model")
def model() -> None:
    """Build the models: base weights, datasets, LoRA training, merge + int8 bundle."""


@model.command("base")
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default models/base/NAME).")
def base(name: str, out: str | None) -> None:
    """Save base model NAME (smollm2, a local transformers folder or a hub id) as a transformers folder."""
    from training.base_models import BaseModelError, prepare_base

    target = Path(out or Path("models") / "base" / Path(name).name)
    try:
        path = prepare_base(name, target)
    except BaseModelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"base model {name} saved to {path}")
