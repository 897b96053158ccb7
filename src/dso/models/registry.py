"""The registry of generators: `get_generator(name)` and friends.

Built-ins are registered as import paths ("module:attribute"), imported only when asked for, so
this module imports no generator and no generator module imports it: no import circle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dso.errors import UnknownNameError

if TYPE_CHECKING:
    from dso.models.generator import Generator

GeneratorFactory = Callable[..., "Generator"]

_REGISTRY: dict[str, GeneratorFactory | str] = {
    "dso-tiny": "dso.models.tiny:TinyGenerator.load",
    "trellis": "dso.models.trellis:TrellisGenerator.load",
    "trellis2": "dso.models.trellis2:Trellis2Generator.load",
}


def register_generator(name: str, factory: GeneratorFactory | str) -> None:
    """Make `get_generator(name, weights, device)` call `factory(weights=..., device=...)`.

    `factory` is a callable or an import path "package.module:attribute[.attribute]".
    """
    _REGISTRY[name] = factory


def available_generators() -> list[str]:
    """Names accepted by `get_generator`."""
    return sorted(_REGISTRY)


def _resolve(name: str) -> GeneratorFactory:
    """The factory registered as `name`, importing it the first time if it is a path."""
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, attrs = factory.partition(":")
        obj = importlib.import_module(module)
        for attr in attrs.split(".") if attrs else ():
            obj = getattr(obj, attr)
        _REGISTRY[name] = factory = obj
    return factory


def get_generator(
    name: str = "dso-tiny", weights: str | Path | None = None, device: str = "cpu",
    guidance: float | None = None,
) -> Generator:
    """The generator `name` ('dso-tiny': shipped weights by default; 'trellis', 'trellis2':
    weights=DIR), sampling at `guidance` when given (else at its own).

    An unknown name raises `dso.errors.UnknownNameError` (a ValueError and a KeyError).
    """
    if name not in _REGISTRY:
        raise UnknownNameError("generator", name, sorted(_REGISTRY))
    from dso.models.device import resolve_device

    resolve_device(device)  # before any weights are read
    generator = _resolve(name)(weights=weights, device=device)
    if guidance is not None:
        generator.sampler = generator.sampler.override(guidance=float(guidance))
    return generator
