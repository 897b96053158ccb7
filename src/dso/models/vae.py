"""The dense structure VAE of TRELLIS stage 1: occupancy grid <-> latent grid
(docs/formats.md §VAE).

Keys and shapes match the released `ss_enc_conv3d_*` / `ss_dec_conv3d_*` checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of [B, C, ...] tensors, computed in float32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.movedim(1, -1).float()
        h = F.layer_norm(h, self.normalized_shape, self.weight, self.bias, self.eps)
        return h.movedim(-1, 1).type(x.dtype)


class ResBlock3d(nn.Module):
    """norm -> SiLU -> conv3 -> norm -> SiLU -> conv3 (zero-init), plus skip."""

    def __init__(self, channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.norm1 = ChannelLayerNorm(channels)
        self.norm2 = ChannelLayerNorm(out_channels)
        self.conv1 = nn.Conv3d(channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip_connection: nn.Module = (
            nn.Conv3d(channels, out_channels, 1) if channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip_connection(x)


def pixel_shuffle_3d(x: torch.Tensor, scale: int) -> torch.Tensor:
    """[B, C*s^3, H, W, D] -> [B, C, H*s, W*s, D*s] (channel = c*s^3 + offset, offsets x-major)."""
    b, c, h, w, d = x.shape
    x = x.reshape(b, c // scale**3, scale, scale, scale, h, w, d)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, c // scale**3, h * scale, w * scale, d * scale)


class DownsampleBlock3d(nn.Module):
    """Strided 2x2x2 convolution halving the resolution (key `conv`)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UpsampleBlock3d(nn.Module):
    """3x3x3 convolution to 8x channels, then a 3-D pixel shuffle by 2 (key `conv`)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels * 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle_3d(self.conv(x), 2)


def _out_layer(channels: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        ChannelLayerNorm(channels), nn.SiLU(), nn.Conv3d(channels, out, 3, padding=1)
    )


def _middle(channels: int, n: int) -> nn.Sequential:
    """`n` ResBlocks at the latent resolution (key `middle_block`)."""
    return nn.Sequential(*[ResBlock3d(channels) for _ in range(n)])


def _levels(channels: list[int], num_res_blocks: int, resample: type[nn.Module]) -> nn.ModuleList:
    """`num_res_blocks` ResBlocks per level, a `resample` block between levels (key `blocks`)."""
    blocks = nn.ModuleList()
    for i, ch in enumerate(channels):
        blocks.extend(ResBlock3d(ch) for _ in range(num_res_blocks))
        if i < len(channels) - 1:
            blocks.append(resample(ch, channels[i + 1]))
    return blocks


class _StructureCoder(nn.Module):
    """The prologue the encoder and decoder share: the released arguments checked and kept,
    and the input convolution (registered first in both: keys and init order as released)."""

    def __init__(self, input_channels: int, latent_channels: int, channels: list[int],
                 norm_type: str, use_fp16: bool) -> None:
        super().__init__()
        if norm_type != "layer":
            raise ValueError("only norm_type='layer' is supported")
        self.latent_channels = latent_channels
        self.use_fp16 = use_fp16
        self.input_layer = nn.Conv3d(input_channels, channels[0], 3, padding=1)


class SparseStructureEncoder(_StructureCoder):
    """Occupancy [B, 1, R, R, R] -> posterior (mean, logvar), each [B, latent, r, r, r]."""

    def __init__(self, in_channels: int, latent_channels: int, num_res_blocks: int,
                 channels: list[int], num_res_blocks_middle: int = 2, norm_type: str = "layer",
                 use_fp16: bool = False) -> None:
        super().__init__(in_channels, latent_channels, channels, norm_type, use_fp16)
        self.blocks = _levels(channels, num_res_blocks, DownsampleBlock3d)
        self.middle_block = _middle(channels[-1], num_res_blocks_middle)
        self.out_layer = _out_layer(channels[-1], latent_channels * 2)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of the latent posterior."""
        h = self.input_layer(x.to(self.input_layer.weight.dtype))
        for block in self.blocks:
            h = block(h)
        h = self.out_layer(self.middle_block(h))
        mean, logvar = h.to(x.dtype).chunk(2, dim=1)
        return mean, logvar

    def forward(
        self,
        x: torch.Tensor,
        sample_posterior: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Posterior mean (default) or a posterior sample."""
        mean, logvar = self.posterior(x)
        if not sample_posterior:
            return mean
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + torch.exp(0.5 * logvar) * eps


class SparseStructureDecoder(_StructureCoder):
    """Latent [B, latent, r, r, r] -> occupancy logits [B, 1, R, R, R] (occupied where > 0)."""

    def __init__(self, out_channels: int, latent_channels: int, num_res_blocks: int,
                 channels: list[int], num_res_blocks_middle: int = 2, norm_type: str = "layer",
                 use_fp16: bool = False) -> None:
        super().__init__(latent_channels, latent_channels, channels, norm_type, use_fp16)
        self.middle_block = _middle(channels[0], num_res_blocks_middle)
        self.blocks = _levels(channels, num_res_blocks, UpsampleBlock3d)
        self.out_layer = _out_layer(channels[-1], out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Occupancy logits of latents `x`."""
        h = self.middle_block(self.input_layer(x.to(self.input_layer.weight.dtype)))
        for block in self.blocks:
            h = block(h)
        return self.out_layer(h).to(x.dtype)
