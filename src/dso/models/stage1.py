"""`StageOneGenerator`: the shared machinery of generators built from a flow, a structure VAE and
a condition encoder (both `dso-tiny` and TRELLIS stage 1 are such generators)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dso.models.generator import Generator
from dso.models.sampler import SamplerConfig, sample
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder


def seeded_noise(shape: Sequence[int], seeds: Sequence[int]) -> torch.Tensor:
    """[len(seeds), *shape] normal noise; row k from `Generator().manual_seed(seeds[k])`."""
    rows = [
        torch.randn(tuple(shape), generator=torch.Generator().manual_seed(int(s))) for s in seeds
    ]
    return torch.stack(rows)


class StageOneGenerator(Generator):
    """Generator from a flow transformer, a VAE decoder (+ optional encoder) and a cond encoder."""

    crop_margin = 1.2  # RGBA prompts: crop side / object box side (TRELLIS; TRELLIS.2: 1.0)

    def __init__(
        self,
        name: str,
        flow: nn.Module,
        decoder: SparseStructureDecoder,
        cond_encoder: nn.Module,
        encoder: SparseStructureEncoder | None = None,
        sampler: SamplerConfig | None = None,
        device: str | torch.device = "cpu",
        decode_batch: int = 32,
        flow_batch: int | None = None,
    ) -> None:
        self.name = name
        self.device = torch.device(device)
        self.flow = flow.to(self.device).eval()
        self.decoder = decoder.to(self.device).eval()
        self.encoder = encoder.to(self.device).eval() if encoder is not None else None
        self.cond_encoder = cond_encoder.to(self.device).eval()
        self.sampler = sampler or SamplerConfig()
        self.decode_batch = decode_batch
        self.flow_batch = flow_batch  # rows per flow call while sampling (None: all at once)
        res = flow.resolution
        self.latent_shape = (flow.in_channels, res, res, res)
        self.resolution = res * 2 ** _upsamples(decoder)
        if decoder.latent_channels != flow.in_channels:
            raise ValueError(
                f"decoder latent channels {decoder.latent_channels} != flow channels "
                f"{flow.in_channels}"
            )

    def condition(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB or RGBA images -> condition tokens [B, L, Dc] on the generator's device.

        Each image is prepared as TRELLIS does (`dso.models.preprocess.prepare_image`): RGBA is
        cropped to the object (`crop_margin`) and premultiplied on black, RGB on black is resized as
        it is (on another plain colour it is cut out first: `dso.models.preprocess`).
        """
        from dso.models.preprocess import prepare_image

        size = self.cond_encoder.image_size
        ready = [prepare_image(img, size, f"image {i}", self.crop_margin)
                 for i, img in enumerate(images)]
        self.cond_encoder.eval()
        return self.cond_encoder.encode_images(ready)

    @torch.no_grad()
    def sample_latents(
        self, cond: torch.Tensor, seeds: Sequence[int], **sampler_overrides: object
    ) -> torch.Tensor:
        """Euler-sample one latent per (cond row, seed); float32 [B, C, r, r, r] on CPU."""
        if cond.shape[0] != len(seeds):
            raise ValueError(f"{cond.shape[0]} condition rows but {len(seeds)} seeds")
        cfg = self.sampler.override(**sampler_overrides)
        noise = seeded_noise(self.latent_shape, seeds).to(self.device)
        was_training = self.flow.training
        self.flow.eval()
        try:
            x = sample(self._flow_calls, noise, cond.to(self.device), cfg)
        finally:
            self.flow.train(was_training)
        return x.float().cpu()

    def _flow_calls(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The flow in calls of `flow_batch` rows when the rows split evenly so, else in one.

        On a CPU, dso-tiny's flow costs ~20% less per row at 32 rows than at 128 (what a
        guided step of 64 samples asks for): the activations stay in cache. Rows do not depend
        on each other; the results are the same to the bit as one call as long as each call
        has a multiple of 16 rows (MKL computes some small matrix products otherwise: its
        per-row modulation is batch-size dependent at ~1e-6), hence only even splits.
        """
        rows, size = x.shape[0], self.flow_batch
        if not size or rows <= size or rows % size:
            return self.flow(x, t, cond)
        return torch.cat([self.flow(a, b, c) for a, b, c in
                          zip(x.split(size), t.split(size), cond.split(size), strict=True)])

    @torch.no_grad()
    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents [B, C, r, r, r] -> occupancy logits [B, R, R, R] (float32, CPU)."""
        if latents.dim() != 5 or tuple(latents.shape[1:]) != self.latent_shape:
            raise ValueError(
                f"latents must be [B, {self.latent_shape}], got {tuple(latents.shape)}"
            )
        sizes = [min(self.decode_batch, len(latents) - s)
                 for s in range(0, len(latents), self.decode_batch)]
        if len(sizes) > 1 and sizes[-1] == 1:  # a grid decoded alone differs at ~5e-5 (oneDNN)
            sizes[-2:] = [sizes[-2] + 1]
        parts = [self.decoder(chunk.to(self.device))[:, 0].float().cpu()
                 for chunk in latents.split(sizes)]
        return torch.cat(parts)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents -> occupancy bool [B, R, R, R] (occupied where the logit > 0)."""
        return (self.decode_logits(latents) > 0).numpy()

    @torch.no_grad()
    def encode(self, occupancy: np.ndarray) -> torch.Tensor:
        """Occupancy bool [B, R, R, R] or [R, R, R] -> posterior-mean latents (float32, CPU)."""
        if self.encoder is None:
            raise RuntimeError(f"generator {self.name!r} has no structure encoder loaded: "
                               "its weights folder lacks the encoder's files (TRELLIS: "
                               "ss_enc_conv3d_16l8_fp16.json and .safetensors)")
        occ = np.asarray(occupancy)
        occ = occ[None] if occ.ndim == 3 else occ
        r = self.resolution
        if occ.ndim != 4 or occ.shape[1:] != (r, r, r):
            raise ValueError(f"occupancy must be [B, {r}, {r}, {r}], got {occ.shape}")
        x = torch.from_numpy(occ.astype(np.float32))[:, None]
        parts = [self.encoder(c.to(self.device)).float().cpu() for c in x.split(self.decode_batch)]
        return torch.cat(parts)


def _upsamples(decoder: SparseStructureDecoder) -> int:
    from dso.models.vae import UpsampleBlock3d

    return sum(isinstance(b, UpsampleBlock3d) for b in decoder.blocks)
