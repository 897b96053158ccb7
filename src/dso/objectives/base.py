"""What an objective is, the batch it reads, and the one registry that finds objectives by name.

An objective is a frozen dataclass subclassing `Objective`; its fields are its settings (read by
name from a `TrainConfig`), and it says:

- `layout`: the rows its micro-batch holds. `STABLE`: stable samples only. `HALVES`: the first
  half stable, the second half unstable, any prompts. `PAIRS`: row i and row i + B/2 are a
  stable and an unstable sample of the same prompt (`pair_up` / `split_pairs`).
- `samples_per_item`: what `batch_size` counts: 1 (rows) or 2 (DPO counts pairs).
- `check_batch_size`: raise ValueError for a batch size the layout cannot fill.
- `needs_reference`: whether the loss reads the frozen base model's errors (torchtune's
  `is_reference_free`, inverted); the recipe then runs the network again with adapters off.
- `shares_pair_noise`, `shares_pair_t` and `noise_rows`: how t and noise are drawn for a
  micro-batch (`PairDraws`: the objectives whose pairs draw as paired DRO's).
A class attribute says each of these; an objective whose settings decide one (DRO: paired or
not) makes it a property.
- `loss(err, ref, batch)`: the scalar loss and float stats, around the room's pure function.

Defining a subclass with a `name` registers it; `objective_names` and `get_objective` import
every module of this package first, so a new objective is one new file in `dso/objectives/`.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from dso.errors import UnknownNameError

if TYPE_CHECKING:  # torch is imported where a loss runs, so that `dso --help` stays fast
    import torch

STABLE, HALVES, PAIRS = "stable", "halves", "pairs"
_REGISTRY: dict[str, type[Objective]] = {}
T = TypeVar("T")


def split_pairs(rows: T) -> tuple[T, T]:
    """(first half, second half) of a paired batch: element i pairs with element i + B/2."""
    half = len(rows) // 2
    return rows[:half], rows[half:]


def pair_up(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """The rows of a paired batch from its two halves (the inverse of `split_pairs`)."""
    import torch

    return torch.cat([first, second])


@dataclass(frozen=True)
class Batch:
    """One micro-batch: latents `x0 [B, ...]`, conditions `cond [B, ...]`, labels `stable [B]`.

    With `paired`, rows i and i + B/2 are a stable and an unstable sample of one prompt.
    """

    x0: torch.Tensor
    cond: torch.Tensor
    stable: torch.Tensor
    paired: bool = False

    @classmethod
    def of_pairs(cls, x_w: torch.Tensor, x_l: torch.Tensor, cond: torch.Tensor) -> Batch:
        """A paired batch from stable latents, unstable latents and the pairs' conditions."""
        import torch

        n = x_w.shape[0]
        return cls(pair_up(x_w, x_l), pair_up(cond, cond),
                   torch.arange(2 * n) < n, paired=True)

    def __len__(self) -> int:
        return int(self.x0.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on `device`."""
        return dataclasses.replace(self, x0=self.x0.to(device), cond=self.cond.to(device),
                                   stable=self.stable.to(device))


@dataclass(frozen=True)
class Objective:
    """Base of every objective; see the module docstring for what a subclass declares."""

    name: ClassVar[str] = ""
    layout: ClassVar[str] = STABLE
    samples_per_item: ClassVar[int] = 1
    needs_reference: ClassVar[bool] = False  # does `loss` read the base model's errors `ref`?
    shares_pair_noise: ClassVar[bool] = False  # rows i, i + B/2: the same t, noise, dropout?
    shares_pair_t: ClassVar[bool] = False  # rows i, i + B/2: the same t and dropout only?

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            known = _REGISTRY.get(cls.name)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise ValueError(f"objective {cls.name!r} is defined twice: "
                                 f"{known.__module__} and {cls.__module__}")
            _REGISTRY[cls.name] = cls

    @classmethod
    def from_settings(cls, settings: object | Mapping[str, Any] | None = None) -> Objective:
        """This objective with each of its fields read by name from `settings` (a TrainConfig or
        a dict) where present; the others keep their defaults."""
        if settings is None:
            settings = {}
        get = settings.get if isinstance(settings, Mapping) else (
            lambda key, default: getattr(settings, key, default))
        missing = object()
        values = {f.name: get(f.name, missing) for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if v is not missing})

    def caution(self) -> str | None:
        """A warning about these settings, shown when training starts (None: none)."""
        return None

    # ---- the batch ------------------------------------------------------------------------
    def rows(self, batch_size: int) -> int:
        """Samples in a micro-batch of `batch_size` items."""
        return batch_size * self.samples_per_item

    def batch_size_for(self, samples: int) -> int:
        """The `batch_size` whose micro-batch holds `samples` samples (rounded down)."""
        return samples // self.samples_per_item

    def noise_rows(self, rows: int) -> int:
        """How many (t, noise, dropout) draws the recipe makes for a micro-batch of `rows`."""
        return rows

    def check_batch_size(self, batch_size: int) -> None:
        """Raise ValueError when `batch_size` cannot fill this objective's layout."""
        rows = self.rows(batch_size)
        if self.layout == STABLE and rows < 1:
            need = "batch_size >= 1"
        elif self.layout == HALVES and rows < 2:
            need = "batch_size >= 2 (half stable, half unstable)"
        elif (self.layout == PAIRS or self.shares_pair_noise or self.shares_pair_t) and (
                rows < 2 or rows % 2):
            need = ("an even batch_size >= 2 (row i pairs with row i + B/2)"
                    if self.samples_per_item == 1 else "batch_size >= 1")
        else:
            return
        raise ValueError(f"{self.name} needs {need}, got {batch_size}")

    # ---- the loss -------------------------------------------------------------------------
    def loss(self, err: torch.Tensor, ref: torch.Tensor | None, batch: Batch
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss and float stats from the model's per-sample errors `err [B]` (and the
        base model's `ref [B]` when `needs_reference`) on `batch`."""
        raise NotImplementedError


PAIR_NOISE = ("shared", "release", "independent")  # what rows i and i + B/2 share, see below


@dataclass(frozen=True)
class PairDraws(Objective):
    """An objective whose rows i and i + B/2 may be drawn as paired DRO's are (`paired_dro`):
    `pair_noise="shared"` gives both one t, noise and dropout draw, `"release"` one t and
    dropout draw with noise per row (as the released code), `"independent"` all per row."""

    paired_dro: bool = False
    pair_noise: str = "shared"

    @property
    def shares_pair_noise(self) -> bool:
        return self.paired_dro and self.pair_noise == "shared"

    @property
    def shares_pair_t(self) -> bool:
        return self.paired_dro and self.pair_noise == "release"


def _discover() -> None:
    """Import every module of dso.objectives, so that each objective has registered."""
    package = importlib.import_module("dso.objectives")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"dso.objectives.{info.name}")


def objective_names() -> tuple[str, ...]:
    """Names of the registered objectives, sorted."""
    _discover()
    return tuple(sorted(_REGISTRY))


def get_objective(name: str) -> type[Objective]:
    """The objective class registered as `name`; UnknownNameError lists the known ones."""
    _discover()
    if name not in _REGISTRY:
        raise UnknownNameError("objective", name, sorted(_REGISTRY))
    return _REGISTRY[name]


def make_objective(name: str, settings: object | Mapping[str, Any] | None = None) -> Objective:
    """The objective `name` with its settings read from `settings` (see `from_settings`)."""
    return get_objective(name).from_settings(settings)
