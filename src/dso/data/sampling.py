"""Training batches drawn from a labelled store, in the layout the objective asks for.

Rows are drawn without replacement from epoch-wise permutations shared by all ranks (they depend
on the seed and the epoch only); at step s, rank r takes the slice at position
`(s * world_size + r) * k` of that stream. So a batch is a pure function of (seed, rank, step)
for a given world size, ranks at the same step get disjoint rows (unless a slice wraps past the
end of an epoch, or the pool is smaller than world_size * k), and each epoch visits every row.
Pairs stream over prompts with both outcomes; the stable and unstable sample of each pair are
then drawn at random within the prompt.

The objective's layout (dso.objectives.base) decides the rows of a `Batch`:
- `stable` (sft): stable samples only.
- `halves` (dro): first half stable, second half unstable, any prompts (the DRO formula needs
  no pairs).
- `pairs` (dpo, dro with `paired_dro`): row i and row i + B/2 are a stable and an unstable
  sample of the same prompt, as the released code draws them.
`max_prompts` keeps the dataset's first N prompts only (data-scaling studies: the first N of a
large dataset are the dataset one would have generated with N).
With `other_view`, each row is conditioned on another view of the same object
(docs/method.md §Batches, as in the paper); an object with one view keeps its own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from dso.data.store import Row, SampleStore
from dso.objectives.base import HALVES, PAIRS, STABLE, Batch, Objective, make_objective


@dataclass(frozen=True)
class Selection:
    """The rows of one batch without tensors: `rows[i]` is conditioned on `cond_prompts[i]`;
    with `paired`, rows i and i + B/2 are a pair (dso.objectives.base.split_pairs)."""

    rows: list[Row]
    cond_prompts: list[str]
    paired: bool = False


class BatchSource:
    """Deterministic batches for one objective; see the module docstring for the rules.

    `objective` is a name (its settings: `paired_dro`) or an `Objective`; `batch_size` counts
    what the objective counts (DPO: pairs).
    """

    def __init__(self, store: SampleStore, objective: str | Objective, batch_size: int,
                 seed: int, rank: int = 0, world_size: int = 1, other_view: bool = False,
                 paired_dro: bool = False, split: str | None = None,
                 max_prompts: int | None = None) -> None:
        if not isinstance(objective, Objective):
            objective = make_objective(objective, {"paired_dro": paired_dro})
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        objective.check_batch_size(int(batch_size))
        self.store, self.objective, self.batch_size = store, objective, int(batch_size)
        self.rows = objective.rows(self.batch_size)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.other_view = other_view
        rows = store.labelled(split)
        keep = None
        if max_prompts is not None:  # the dataset's first prompts, in generation order
            keep = {p["prompt_id"] for p in store.prompts()[:max_prompts]}
            rows = [r for r in rows if r.prompt_id in keep]
        self.stable = [r for r in rows if r.stable]
        self.unstable = [r for r in rows if not r.stable]
        self._pairs = _mixed_prompts(rows)
        self._views = _views_by_object(store, keep)  # the other views of the kept prompts only
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}
        self._check_pools(len(rows))

    def usage(self) -> str | None:
        """For a paired layout (DPO, paired DRO), how much of the data the pairs can draw: a
        prompt whose samples are all stable or all unstable gives no pair (None otherwise)."""
        if self.objective.layout != PAIRS:
            return None
        prompts = {r.prompt_id for r in self.stable + self.unstable}
        in_pairs = sum(len(s) + len(u) for s, u in self._pairs)
        return (f"{self.objective.name} pairs draw from {len(self._pairs)} of {len(prompts)} "
                f"prompts ({in_pairs} of {len(self.stable) + len(self.unstable)} labelled "
                "samples): a prompt with only stable or only unstable samples gives no pair")

    def _check_pools(self, n_rows: int) -> None:
        have = (f"{n_rows} labelled rows: {len(self.stable)} stable, {len(self.unstable)} "
                f"unstable, {len(self._pairs)} prompts with both"
                + ("; is the dataset labelled (`dso label DS`)?" if n_rows == 0 else ""))
        name, layout = self.objective.name, self.objective.layout
        if layout == PAIRS and not self._pairs:
            raise ValueError(f"{name} needs prompts with both outcomes; {have}")
        if layout == HALVES and not (self.stable and self.unstable):
            raise ValueError(f"{name} needs stable and unstable samples; {have}")
        if layout == STABLE and not self.stable:
            raise ValueError(f"{name} needs stable samples; {have}")

    # ---- the stream ----------------------------------------------------------------------
    def _perm(self, salt: int, size: int, epoch: int) -> np.ndarray:
        key = (salt, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            rng = np.random.default_rng([self.seed, salt, epoch])
            self._perm_cache[key] = rng.permutation(size)
        return self._perm_cache[key]

    def _take(self, salt: int, size: int, step: int, k: int) -> list[int]:
        """Indices into a pool of `size` for this rank at `step`, `k` of them."""
        start = (step * self.world_size + self.rank) * k
        out = []
        for pos in range(start, start + k):
            epoch, off = divmod(pos, size)
            out.append(int(self._perm(salt, size, epoch)[off]))
        return out

    def _rng(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.rank, step, 0xD50])

    # ---- selection -----------------------------------------------------------------------
    def select(self, step: int) -> Selection:
        """The rows of batch `step` without loading tensors."""
        if step < 0:
            raise ValueError("step must be >= 0")
        rng = self._rng(step)
        layout = self.objective.layout
        if layout == STABLE:
            rows = [self.stable[i] for i in self._take(1, len(self.stable), step, self.rows)]
            return Selection(rows, self._cond(rows, rng))
        if layout == PAIRS:
            picks = [self._pairs[i] for i in self._take(3, len(self._pairs), step, self.rows // 2)]
            w = [ws[rng.integers(len(ws))] for ws, _ in picks]
            lo = [ls[rng.integers(len(ls))] for _, ls in picks]
            cond = self._cond(w, rng)
            return Selection(w + lo, cond + cond, paired=True)
        half = self.rows // 2
        rows = [self.stable[i] for i in self._take(1, len(self.stable), step, half)]
        rows += [self.unstable[i]
                 for i in self._take(2, len(self.unstable), step, self.rows - half)]
        return Selection(rows, self._cond(rows, rng))

    def _cond(self, rows: list[Row], rng: np.random.Generator) -> list[str]:
        if not self.other_view:
            return [r.prompt_id for r in rows]
        out = []
        for r in rows:
            others = [p for p in self._views.get(r.object_id, ()) if p != r.prompt_id]
            out.append(others[rng.integers(len(others))] if others else r.prompt_id)
        return out

    def batch(self, step: int) -> Batch:
        """Tensors for batch `step`, in the objective's layout (see the module docstring)."""
        import torch

        sel = self.select(step)
        rows = sel.rows
        return Batch(x0=self.store.latents([r.sample_id for r in rows]),
                     cond=self.store.conditions(sel.cond_prompts),
                     stable=torch.tensor([r.stable for r in rows], dtype=torch.bool),
                     paired=sel.paired)


def _mixed_prompts(rows: list[Row]) -> list[tuple[list[Row], list[Row]]]:
    """(stable rows, unstable rows) of each prompt that has both, in prompt order."""
    groups: dict[str, tuple[list[Row], list[Row]]] = defaultdict(lambda: ([], []))
    for r in rows:
        groups[r.prompt_id][0 if r.stable else 1].append(r)
    return [groups[p] for p in sorted(groups) if groups[p][0] and groups[p][1]]


def _views_by_object(store: SampleStore, keep: set[str] | None = None
                     ) -> dict[str, list[str]]:
    """Prompt ids with a stored condition (among `keep` when given), grouped by object, in
    position order."""
    views: dict[str, list[str]] = defaultdict(list)
    for p in store.prompts():
        if p["cond_shard"] is not None and (keep is None or p["prompt_id"] in keep):
            views[p["object_id"]].append(p["prompt_id"])
    return dict(views)
