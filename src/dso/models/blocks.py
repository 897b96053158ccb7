"""Transformer building blocks of the TRELLIS and TRELLIS.2 stage-1 flows (docs/formats.md §Flow).

Module and parameter names match the released state dicts exactly (`to_qkv`, `q_rms_norm.gamma`,
`mlp.mlp.0`, `adaLN_modulation.1`, `modulation`, ...), so released weights load without renaming.
TRELLIS.2's options: RoPE on q and k in self-attention (`phases`), qk RMS norm in cross-attention,
and shared modulation (the block adds its learned `modulation [6D]` to the model-level one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dso.models.rope import apply_rope


class LayerNorm32(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (as the reference does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


class MultiHeadRMSNorm(nn.Module):
    """Per-head L2 normalisation times a learned gain `gamma [H, Dh]` times sqrt(Dh)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(heads, dim))

    def forward(self, x: torch.Tensor, head_dim: int = -2) -> torch.Tensor:
        """Normalise x [..., H, (L,) Dh]; `head_dim` is the axis of the heads (-2 or -3)."""
        gamma = self.gamma if head_dim == -2 else self.gamma.unsqueeze(1)
        return (F.normalize(x.float(), dim=-1) * (gamma * self.scale)).to(x.dtype)


def _merge_heads(h: torch.Tensor) -> torch.Tensor:
    """[B, H, L, Dh] -> [B, L, H * Dh]."""
    b, heads, n, d = h.shape
    return h.transpose(1, 2).reshape(b, n, heads * d)


class SelfAttention(nn.Module):
    """Multi-head self attention with optional qk RMS norm (`to_qkv`, `to_out`)."""

    def __init__(self, channels: int, num_heads: int, qk_rms_norm: bool = False) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels {channels} not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qk_rms_norm = qk_rms_norm
        self.to_qkv = nn.Linear(channels, channels * 3)
        if qk_rms_norm:
            self.q_rms_norm = MultiHeadRMSNorm(channels // num_heads, num_heads)
            self.k_rms_norm = MultiHeadRMSNorm(channels // num_heads, num_heads)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, phases: torch.Tensor | None = None) -> torch.Tensor:
        """Attend over x [B, L, D]; `phases` [L, Dh/2] (complex) applies RoPE after the qk norm."""
        b, n, _ = x.shape
        qkv = self.to_qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, H, L, Dh]
        if self.qk_rms_norm:
            q, k = self.q_rms_norm(q, head_dim=-3), self.k_rms_norm(k, head_dim=-3)
        if phases is not None:
            q, k = apply_rope(q, phases), apply_rope(k, phases)
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    """Multi-head cross attention from tokens to condition tokens (`to_q`, `to_kv`, `to_out`),
    with optional qk RMS norm (TRELLIS.2's `qk_rms_norm_cross`)."""

    def __init__(
        self, channels: int, ctx_channels: int, num_heads: int, qk_rms_norm: bool = False
    ) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"channels {channels} not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qk_rms_norm = qk_rms_norm
        self.to_q = nn.Linear(channels, channels)
        self.to_kv = nn.Linear(ctx_channels, channels * 2)
        if qk_rms_norm:
            self.q_rms_norm = MultiHeadRMSNorm(channels // num_heads, num_heads)
            self.k_rms_norm = MultiHeadRMSNorm(channels // num_heads, num_heads)
        self.to_out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.to_q(x).reshape(b, n, self.num_heads, -1).transpose(1, 2)
        kv = self.to_kv(context).reshape(b, context.shape[1], 2, self.num_heads, -1)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.qk_rms_norm:
            q, k = self.q_rms_norm(q, head_dim=-3), self.k_rms_norm(k, head_dim=-3)
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FeedForwardNet(nn.Module):
    """Linear -> GELU(tanh) -> Linear, stored under `mlp.0` and `mlp.2`."""

    def __init__(self, channels: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class ModulatedTransformerCrossBlock(nn.Module):
    """adaLN-modulated self attention, un-modulated cross attention, modulated MLP.

    With `share_mod` the block has no `adaLN_modulation` of its own: `forward` gets the
    model-level modulation [B, 6D] and adds the block's learned `modulation [6D]` to it.
    """

    def __init__(
        self,
        channels: int,
        ctx_channels: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qk_rms_norm: bool = False,
        qk_rms_norm_cross: bool = False,
        share_mod: bool = False,
    ) -> None:
        super().__init__()
        self.share_mod = share_mod
        self.norm1 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.norm2 = LayerNorm32(channels, elementwise_affine=True, eps=1e-6)
        self.norm3 = LayerNorm32(channels, elementwise_affine=False, eps=1e-6)
        self.self_attn = SelfAttention(channels, num_heads, qk_rms_norm=qk_rms_norm)
        self.cross_attn = CrossAttention(
            channels, ctx_channels, num_heads, qk_rms_norm=qk_rms_norm_cross
        )
        self.mlp = FeedForwardNet(channels, mlp_ratio)
        if share_mod:
            self.modulation = nn.Parameter(torch.randn(6 * channels) / channels**0.5)
        else:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(channels, 6 * channels))

    def forward(
        self,
        x: torch.Tensor,
        t_emb: torch.Tensor,
        context: torch.Tensor,
        phases: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`t_emb` is the timestep embedding, or with `share_mod` the shared modulation."""
        if self.share_mod:
            mod = (self.modulation + t_emb).to(t_emb.dtype).unsqueeze(1)
        else:
            mod = self.adaLN_modulation(t_emb).unsqueeze(1)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = mod.chunk(6, dim=-1)
        x = x + gate_a * self.self_attn(self.norm1(x) * (1 + scale_a) + shift_a, phases)
        x = x + self.cross_attn(self.norm2(x), context)
        return x + gate_m * self.mlp(self.norm3(x) * (1 + scale_m) + shift_m)
