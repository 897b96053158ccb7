"""Rotary position embedding over the three voxel axes (TRELLIS.2's `pe_mode="rope"`).

`rope_phases(grid, head_dim)` is the complex64 table `[grid^3, head_dim/2]`: the token of voxel
(i, j, k) (x-major order, integer indices) rotates channel pair p by angle
`[i f, j f, k f, 0...][p]` with F = (head_dim/2) // 3 frequencies per axis, `f_q = 10000^(-q/F)`;
the pairs past 3F are left alone. `apply_rope` rotates adjacent channel pairs (2p, 2p+1) of every
head of q or k by those phases, in float32 (docs/formats.md §TRELLIS.2).
"""

from __future__ import annotations

import torch


def rope_phases(grid: int, head_dim: int, device: torch.device | str | None = None
                ) -> torch.Tensor:
    """The complex64 phases [grid^3, head_dim / 2] of the voxel tokens of a grid^3 latent."""
    if head_dim % 2 or head_dim // 2 < 3:
        raise ValueError(f"rope needs an even head dimension of at least 6, got {head_dim}")
    pairs = head_dim // 2
    per_axis = pairs // 3
    freqs = 1.0 / 10000 ** (torch.arange(per_axis, dtype=torch.float32, device=device) / per_axis)
    axes = torch.meshgrid(*[torch.arange(grid, device=device)] * 3, indexing="ij")
    coords = torch.stack(axes, dim=-1).reshape(-1, 3).float()  # [N, 3] = (i, j, k)
    angles = (coords[:, :, None] * freqs).reshape(coords.shape[0], 3 * per_axis)
    angles = torch.nn.functional.pad(angles, (0, pairs - 3 * per_axis))  # identity pairs
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, H, N, head_dim] by phases [N, head_dim / 2] (fp32), in x's dtype."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(pairs * phases).reshape(x.shape).to(x.dtype)
