"""``billing-ops preview``: print the invoice a change would produce, writing nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from activities.billing.preview import (
    PreviewRequest,
    describe_validation_error,
    preview_invoice,
    preview_schemas,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def preview(
    file: Annotated[
        str | None,
        typer.Argument(help="The request as JSON; - reads standard input.", show_default=False),
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the request and response JSON Schemas.")
    ] = False,
) -> None:
    """Preview the invoice for a subscription change (see docs/invoicing.md)."""
    if schema:
        typer.echo(json.dumps(preview_schemas(), indent=2))
        return
    if file is None:
        raise _fail("FILE: give a request file, or - to read standard input")
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as error:
        raise _fail(f"{file}: {error.strerror}") from None
    try:
        request = PreviewRequest.model_validate_json(text)
    except ValidationError as error:
        raise _fail(describe_validation_error(error)) from None
    try:
        response = preview_invoice(request)
    except ValueError as error:
        raise _fail(str(error)) from None
    typer.echo(response.model_dump_json(indent=2))
