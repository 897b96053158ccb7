"""Command-line options generated from a config dataclass: each field carries its own help.

    @dataclass
    class MyConfig:
        steps: int = setting(200, "Optimizer steps.")
        paired: bool = setting(False, "Rows as pairs.", off="--unpaired")

    @config_options(MyConfig, after="out")
    def my_command(out: Path = typer.Option(...), *, given: dict) -> None:
        config = MyConfig(**given)       # `given`: the options the user set, by field name

Each field with help becomes `--field-name` (or its `flag`), typed as the field, defaulting to
"not given" so a command can tell a flag from a default (a resumed run keeps its saved
values); the help ends with the dataclass default in brackets, written by this module.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any


def setting(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
            off: str | None = None, shown: str | None = None, cli: bool = True,
            path: bool = False, default_factory: Any = dataclasses.MISSING,
            **metadata: Any) -> Any:
    """A dataclass field with its command-line help in the metadata.

    `flag`: the option's name when it is not `--field-name`; `off`: the negative flag of a bool
    (`--paired-dro/--unpaired-dro`); `shown`: how the default reads in the help when the value
    itself does not say it; `cli=False`: no option; `path`: the option takes a path, given to
    the command resolved to an absolute string; other keywords are kept in the metadata.
    """
    meta = dict(metadata, help=help, flag=flag, off=off, shown=shown, cli=cli, path=path)
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of `cls` that are command-line options."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli") and f.metadata["help"]]


def _default_text(f: dataclasses.Field) -> str:
    if f.metadata.get("shown"):
        return f.metadata["shown"]
    value = f.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return _flags(f)[0 if value else 1].lstrip("-") if f.metadata.get("off") else (
            "on" if value else "off")
    return str(value)


def _flags(f: dataclasses.Field) -> tuple[str, str | None]:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-"), f.metadata.get("off")


def _option_type(hint: Any, f: dataclasses.Field) -> Any:
    """The field's type without None (typer options are `T | None`, None: not given)."""
    if f.metadata.get("path"):
        return Path
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else str
    return hint


def config_options(cls: type, *, after: str | None = None
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add one typer option per `cli_fields(cls)` to a command (after its parameter
    `after`, else at the end); the command receives the ones given as `given: dict`."""
    import typer

    hints = typing.get_type_hints(cls)
    fields = cli_fields(cls)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "given"]
        added = []
        for f in fields:
            on, off = _flags(f)
            option = typer.Option(None, f"{on}/{off}" if off else on, show_default=False,
                                  help=f"{f.metadata['help']} [{_default_text(f)}]")
            added.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                           default=option,
                                           annotation=_option_type(hints[f.name], f)))
        at = [p.name for p in own].index(after) + 1 if after else len(own)
        kinds = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own[at:]]
        names = {f.name: f for f in fields}

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {}
            for name, f in names.items():
                value = kwargs.pop(name, None)
                if value is not None:
                    given[name] = str(Path(value).resolve()) if f.metadata.get("path") else value
            return command(**kwargs, given=given)

        wrapper.__signature__ = inspect.Signature(own[:at] + added + kinds)  # type: ignore
        return wrapper

    return decorate


def quiet_option() -> Any:
    """`--quiet`: the one flag every long-running command has to turn its progress bars off."""
    import typer

    return typer.Option(False, "--quiet", help="No progress bars.")
