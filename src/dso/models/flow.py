"""The sparse-structure flow transformer of TRELLIS and TRELLIS.2 stage 1 (docs/formats.md §Flow).

`SparseStructureFlowModel(x [B,C,R,R,R], t [B] (already x1000), cond [B,L,Dc]) -> v [B,C,R,R,R]`.
Constructor arguments are those of the released `<name>.json` `args` of either release; the state
dict has the released keys and shapes (the `pos_emb` or `rope_phases` buffer is part of it).

TRELLIS.2's options (`pe_mode="rope"`, `share_mod`, `qk_rms_norm_cross`, `dtype`,
`initialization`) mark its argument form, which has no patchify (`patch_size` must be 1 or
absent) and `dtype` in place of `use_fp16`. v1's form keeps `patch_size` (default 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dso.models.blocks import ModulatedTransformerCrossBlock
from dso.models.rope import rope_phases

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, R, R, R] -> [B, C*p^3, R/p, R/p, R/p]; channel index = c*p^3 + offset in patch."""
    b, c, *res = x.shape
    if any(r % p for r in res):
        raise ValueError(f"resolution {res} not divisible by patch size {p}")
    x = x.reshape(b, c, res[0] // p, p, res[1] // p, p, res[2] // p, p)
    x = x.permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, c * p**3, res[0] // p, res[1] // p, res[2] // p)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """Inverse of `patchify`: [B, C*p^3, r, r, r] -> [B, C, r*p, r*p, r*p]."""
    b, cp, *res = x.shape
    x = x.reshape(b, cp // p**3, p, p, p, *res)
    x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, cp // p**3, res[0] * p, res[1] * p, res[2] * p)


def sincos_pos_emb(grid: int, channels: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed 3-D sin-cos embedding [grid^3, channels] in x-major (i, j, k) token order."""
    freq_dim = channels // 3 // 2
    freqs = 1.0 / (10000 ** (torch.arange(freq_dim, dtype=torch.float32, device=device) / freq_dim))
    axes = torch.meshgrid(*[torch.arange(grid, device=device)] * 3, indexing="ij")
    coords = torch.stack(axes, dim=-1).reshape(-1, 3)
    out = torch.outer(coords.reshape(-1).float(), freqs)
    emb = torch.cat([torch.sin(out), torch.cos(out)], dim=-1).reshape(coords.shape[0], -1)
    return F.pad(emb, (0, channels - emb.shape[1]))


class TimestepEmbedder(nn.Module):
    """256-dim [cos, sin] embedding of t (already x1000), then Linear-SiLU-Linear."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256) -> None:
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size),
            nn.SiLU(),
            nn.Linear(hidden_size, hidden_size),
        )

    @staticmethod
    def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000) -> torch.Tensor:
        """Sinusoidal embedding [B, dim] of a [B] vector of (possibly fractional) timesteps."""
        half = dim // 2
        k = torch.arange(half, dtype=torch.float32, device=t.device)
        freqs = torch.exp(-math.log(max_period) * k / half)
        args = t[:, None].float() * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return F.pad(emb, (0, dim % 2))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = self.timestep_embedding(t, self.frequency_embedding_size)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


def _check_options(pe_mode: str, share_mod: bool, qk_rms_norm_cross: bool, patch_size: int | None,
                   dtype: str | None, initialization: str | None, use_fp16: bool) -> int:
    """The patch size of a valid option set; a clear ValueError for an unsupported one."""
    if pe_mode not in ("ape", "rope"):
        raise ValueError(f"pe_mode must be 'ape' or 'rope', got {pe_mode!r}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    v2 = [name for name, on in (("pe_mode='rope'", pe_mode == "rope"), ("share_mod", share_mod),
                                ("qk_rms_norm_cross", qk_rms_norm_cross),
                                ("dtype", dtype is not None),
                                ("initialization", initialization is not None)) if on]
    if not v2:
        return 2 if patch_size is None else patch_size
    if patch_size not in (None, 1):
        raise ValueError(f"{', '.join(v2)} are TRELLIS.2 options, which have no patchify: "
                         f"patch_size must be 1 or absent, got {patch_size}")
    if use_fp16:
        raise ValueError(f"{', '.join(v2)} are TRELLIS.2 options: give its `dtype` "
                         "(e.g. 'bfloat16'), not v1's use_fp16")
    return 1


class SparseStructureFlowModel(nn.Module):
    """Image-conditioned flow transformer on a dense latent grid (`ss_flow_img_dit`, v1 and v2)."""

    def __init__(
        self,
        resolution: int,
        in_channels: int,
        model_channels: int,
        cond_channels: int,
        out_channels: int,
        num_blocks: int,
        num_heads: int | None = None,
        num_head_channels: int = 64,
        mlp_ratio: float = 4,
        patch_size: int | None = None,
        pe_mode: str = "ape",
        use_fp16: bool = False,
        use_checkpoint: bool = False,
        share_mod: bool = False,
        qk_rms_norm: bool = False,
        qk_rms_norm_cross: bool = False,
        dtype: str | None = None,
        initialization: str | None = None,
    ) -> None:
        super().__init__()
        patch_size = _check_options(pe_mode, share_mod, qk_rms_norm_cross, patch_size, dtype,
                                    initialization, use_fp16)
        if resolution % patch_size:
            raise ValueError(f"resolution {resolution} not divisible by patch {patch_size}")
        self.resolution = resolution
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.model_channels = model_channels
        self.cond_channels = cond_channels
        self.patch_size = patch_size
        self.num_heads = num_heads or model_channels // num_head_channels
        self.pe_mode = pe_mode
        self.share_mod = share_mod
        self.use_fp16 = use_fp16  # recorded; weights are loaded as float32 (see loading.py)
        self.release_dtype = dtype  # TRELLIS.2: the blocks' Linear layers are built in this dtype
        self.initialization = initialization  # recorded (dso never trains these from scratch)
        self.use_checkpoint = use_checkpoint
        self.t_embedder = TimestepEmbedder(model_channels)
        if share_mod:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(model_channels,
                                                                       6 * model_channels))
        grid = resolution // patch_size
        if pe_mode == "rope":
            self.register_buffer("rope_phases", rope_phases(grid, model_channels // self.num_heads))
        else:
            self.register_buffer("pos_emb", sincos_pos_emb(grid, model_channels))
        self.input_layer = nn.Linear(in_channels * patch_size**3, model_channels)
        self.blocks = nn.ModuleList(
            ModulatedTransformerCrossBlock(
                model_channels, cond_channels, self.num_heads, mlp_ratio, qk_rms_norm=qk_rms_norm,
                qk_rms_norm_cross=qk_rms_norm_cross, share_mod=share_mod,
            )
            for _ in range(num_blocks)
        )
        self.out_layer = nn.Linear(model_channels, out_channels * patch_size**3)
        self.initialize_weights()
        if dtype is not None and dtype != "float32":
            self.convert_blocks(DTYPES[dtype])

    def initialize_weights(self) -> None:
        """Reference initialisation: xavier linears, N(0, 0.02) t-embedder, zero adaLN/out."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for ada in [self.adaLN_modulation] if self.share_mod else [
                b.adaLN_modulation for b in self.blocks]:
            nn.init.zeros_(ada[-1].weight)
            nn.init.zeros_(ada[-1].bias)
        nn.init.zeros_(self.out_layer.weight)
        nn.init.zeros_(self.out_layer.bias)

    def convert_blocks(self, dtype: torch.dtype) -> SparseStructureFlowModel:
        """Cast the Linear layers inside `blocks` to `dtype` (the release's precision rule)."""
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                m.to(dtype)
        return self

    def _apply(self, fn, recurse: bool = True):  # type: ignore[override]
        """As nn.Module's, but `rope_phases` stays complex64 and only follows device moves."""
        phases = self._buffers.pop("rope_phases", None)
        try:
            super()._apply(fn, recurse)
        finally:
            if phases is not None:
                device = fn(torch.empty(0, device=phases.device)).device
                if phases.is_meta and device.type != "meta":  # to_empty: rebuild, nothing to copy
                    grid = self.resolution // self.patch_size
                    moved = rope_phases(grid, self.model_channels // self.num_heads, device)
                else:
                    moved = phases.to(device)
                self._buffers["rope_phases"] = moved
        return self

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Velocity for latents `x` at timesteps `t` (x1000) given condition tokens `cond`.

        Outside the blocks the model computes in its input layer's dtype; `h`, the modulation and
        `cond` enter the blocks in the blocks' dtype and `h` leaves them in x's (TRELLIS.2's
        casting points; all float32 as dso loads models).
        """
        expected = (self.in_channels, *[self.resolution] * 3)
        if x.dim() != 5 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must be [B, {expected}], got {tuple(x.shape)}")
        if cond.dim() != 3 or cond.shape[-1] != self.cond_channels:
            raise ValueError(f"cond must be [B, L, {self.cond_channels}], got {tuple(cond.shape)}")
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        dtype = self.input_layer.weight.dtype
        inner = self.blocks[0].self_attn.to_qkv.weight.dtype if len(self.blocks) else dtype
        h = patchify(x.to(dtype), self.patch_size).flatten(2).transpose(1, 2)
        h = self.input_layer(h)
        if self.pe_mode == "ape":
            h = h + self.pos_emb[None].to(dtype)
        t_emb = self.t_embedder(t)
        if self.share_mod:
            t_emb = self.adaLN_modulation(t_emb)
        phases = self.rope_phases if self.pe_mode == "rope" else None
        h, t_emb, cond = h.to(inner), t_emb.to(inner), cond.to(inner)
        for block in self.blocks:
            if self.use_checkpoint and self.training:
                h = torch.utils.checkpoint.checkpoint(block, h, t_emb, cond, phases,
                                                      use_reentrant=False)
            else:
                h = block(h, t_emb, cond, phases)
        h = h.to(dtype)
        h = self.out_layer(F.layer_norm(h, h.shape[-1:]))
        grid = self.resolution // self.patch_size
        h = h.transpose(1, 2).reshape(h.shape[0], -1, grid, grid, grid)
        return unpatchify(h, self.patch_size).to(x.dtype)
