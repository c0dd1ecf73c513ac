"""Typer's coercion without pydantic where a value needs none.

Typer 0.29 coerces every parameter through a pydantic ``TypeAdapter`` that it
builds on first use: importing pydantic and generating a schema costs a command
about as much as the ORM does (bench/cli_start.py). Most values need nothing: a
``str`` argument typed as ``str``, an enum option left at its default member,
an option not given. For exactly those this returns the value Typer's adapter
would return (its ``str`` validator is ``str(value)``; its choice validator
returns a member of the enum unchanged); anything else goes to Typer's own
adapter, so parsing, errors and messages are Typer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from typer import core
from typer._coercion import RuntimeParam, build_runtime_param

if TYPE_CHECKING:
    from typer._click import Context


@dataclass(frozen=True)
class PlainFirst(RuntimeParam):
    """A value already of the parameter's plain type passes; others go to Typer's adapter."""

    #: Typer's own coercion, built the first time a value needs it.
    typer_own: list[RuntimeParam] = field(default_factory=list, compare=False)

    def _coerce_value(self, value: Any, param: core._TyperParameter, ctx: Context) -> Any:
        annotation = self.annotation
        if annotation is str and type(value) is str:
            return value
        if (
            isinstance(annotation, type)
            and issubclass(annotation, Enum)
            and isinstance(value, annotation)
        ):
            return value
        if not self.typer_own:
            self.typer_own.append(build_runtime_param(param.type_descriptor))
        return self.typer_own[0]._coerce_value(value, param, ctx)


def _runtime_param(self: core._TyperParameter) -> RuntimeParam:
    if self._runtime_param is None:
        descriptor = self.type_descriptor
        plain = descriptor.parameter_info.parser is None and descriptor.file_annotation is None
        self._runtime_param = (
            PlainFirst(descriptor.parameter_info, descriptor.annotation)
            if plain
            else build_runtime_param(descriptor)
        )
    return self._runtime_param


def install() -> None:
    """Put :class:`PlainFirst` in front of Typer's adapters for every parameter."""
    core._TyperParameter.get_runtime_param = _runtime_param  # type: ignore[method-assign]
