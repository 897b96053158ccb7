"""A real tiny flow transformer (dso.models) and a toy labelled batch source for training tests.

The source yields `dso.objectives.Batch`es in the objective's layout, as dso.data's BatchSource
does, deterministic in (seed, rank, step). Stable and unstable latents come from two different
patterns, so a model can learn to tell them apart.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dso.models.flow import SparseStructureFlowModel
from dso.objectives import Batch

C, R, L, DC = 2, 4, 4, 16
FLOW_ARGS = dict(resolution=R, in_channels=C, out_channels=C, model_channels=32,
                 cond_channels=DC, num_blocks=2, num_heads=2, mlp_ratio=2, patch_size=1)


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (tiny ops on a shared 2-core machine run faster)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_flow(seed: int = 0) -> SparseStructureFlowModel:
    """A 2-block flow on [2, 4, 4, 4] latents; zero-initialised layers made random."""
    torch.manual_seed(seed)
    flow = SparseStructureFlowModel(**FLOW_ARGS)
    with torch.no_grad():
        for block in flow.blocks:
            block.adaLN_modulation[-1].weight.normal_(0, 0.02)
        flow.out_layer.weight.normal_(0, 0.05)
    return flow


def tiny_generator(seed: int = 0) -> SimpleNamespace:
    """The one attribute of a Generator that training uses: its flow."""
    return SimpleNamespace(flow=tiny_flow(seed))


class ToySource:
    """Prompts x (stable, unstable) latents; batches as dso.data's BatchSource documents."""

    def __init__(self, objective: str, batch_size: int, seed: int = 0, rank: int = 0,
                 prompts: int = 4, per_prompt: int = 2, delay: float = 0.0) -> None:
        self.objective, self.batch_size, self.seed, self.rank = objective, batch_size, seed, rank
        self.delay = delay
        g = torch.Generator().manual_seed(1234)
        self.cond = torch.randn(prompts, L, DC, generator=g)
        shape = (prompts, per_prompt, C, R, R, R)
        base = torch.randn(prompts, 1, C, R, R, R, generator=g)
        self.stable = base + 0.3 * torch.randn(shape, generator=g)
        self.unstable = -base + 0.3 * torch.randn(shape, generator=g)

    def _rows(self, rng: np.random.Generator, pool: torch.Tensor, n: int):
        p = rng.integers(0, pool.shape[0], n)
        k = rng.integers(0, pool.shape[1], n)
        return pool[p, k], p

    def batch(self, step: int) -> Batch:
        """Deterministic in (seed, rank, step); `batch_size` counts pairs for DPO."""
        if self.delay:
            time.sleep(self.delay)
        rng = np.random.default_rng([self.seed, self.rank, step])
        b = self.batch_size
        if self.objective == "dpo":
            p = rng.integers(0, self.stable.shape[0], b)
            kw, kl = rng.integers(0, self.stable.shape[1], (2, b))
            return Batch.of_pairs(self.stable[p, kw], self.unstable[p, kl], self.cond[p])
        if self.objective == "sft":
            x, p = self._rows(rng, self.stable, b)
            return Batch(x, self.cond[p], torch.ones(b, dtype=torch.bool))
        xs, ps = self._rows(rng, self.stable, b // 2)
        xu, pu = self._rows(rng, self.unstable, b - b // 2)
        stable = torch.arange(b) < b // 2
        return Batch(torch.cat([xs, xu]), self.cond[np.concatenate([ps, pu])], stable)

    def all_rows(self) -> Batch:
        """Every toy sample once."""
        p, k = self.stable.shape[:2]
        cond = self.cond.repeat_interleave(k, 0)
        return Batch(torch.cat([self.stable.flatten(0, 1), self.unstable.flatten(0, 1)]),
                     torch.cat([cond, cond]), torch.arange(2 * p * k) < p * k)


# --------------------------------------------------------------- real generator and store
DEC_ARGS = dict(out_channels=1, latent_channels=C, num_res_blocks=1, num_res_blocks_middle=1,
                channels=[16, 8])
ENC_ARGS = dict(in_channels=1, latent_channels=C, num_res_blocks=1, num_res_blocks_middle=1,
                channels=[8, 16])
IMG_ARGS = dict(image_size=16, width=DC, hidden=16)


def write_tiny_weights(path, seed: int = 0):
    """A dso-tiny-format weights folder with small random models (real loaders read it)."""
    from dso.models.encoders import TinyImageEncoder
    from dso.models.loading import save_model
    from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder

    save_model(tiny_flow(seed), path, "flow", FLOW_ARGS)
    decoder = SparseStructureDecoder(**DEC_ARGS)
    with torch.no_grad():
        for p in decoder.parameters():
            p.normal_(0, 0.1)
    save_model(decoder, path, "decoder", DEC_ARGS)
    save_model(SparseStructureEncoder(**ENC_ARGS), path, "encoder", ENC_ARGS)
    save_model(TinyImageEncoder(**IMG_ARGS), path, "image_encoder", IMG_ARGS)
    (path / "generator.json").write_text('{"sampler": {"steps": 2, "guidance": 1.0}}')
    return path


def build_store(path, weights, prompts: int = 6, n: int = 4, guidance: float | None = None):
    """A real dataset: generated by the tiny generator, labelled by hand (no oracle).

    Samples 0..n/2-1 of each prompt are stable, the others unstable, so every prompt has
    pairs. The physics labelling is the data room's; here only the labels matter.
    """
    from dso.data import SampleStore, generate_dataset
    from dso.data.prompts import Prompt
    from dso.models import get_generator

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(prompts)]
    items = [Prompt(f"p{i}", f"o{i // 2}", family="toy", split="train", view=i % 2,
                    loader=lambda img=img: img) for i, img in enumerate(images)]
    gen = get_generator("dso-tiny", weights=weights, guidance=guidance)
    generate_dataset(path, gen, items, n=n, seed=0, progress=False)
    with SampleStore.open(path) as store:
        labels = [{"sample_id": s["sample_id"], "status": "ok",
                   "stable": int(s["sample_index"] < n // 2),
                   "tilt_deg": 1.0 if s["sample_index"] < n // 2 else 80.0,
                   "preset": "accurate", "threshold_deg": 20.0, "oracle_version": "test"}
                  for s in store.samples()]
        store.record_labels(labels)
    return path
