"""`dso pretrain`: train the built-in `dso-tiny` generator on a world's train split.

Two phases, deterministic for a seed (same machine, same thread count):
1. the structure VAE (occupancy <-> latent), BCE + soft dice + KL on the posterior; afterwards
   each latent channel is rescaled to unit standard deviation by folding the scale into the
   encoder's output and the decoder's input convolutions (exact; the format is unchanged);
2. the flow transformer jointly with the small image encoder, rectified flow on the posterior
   means with t ~ logit-normal(1, 1) and the condition dropped (zeros) with p = cond_dropout.
Progress goes to a tqdm bar and to `<out>/pretrain_log.jsonl` (one json object per line).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dso.errors import refuse_foreign_folder
from dso.models.encoders import TinyImageEncoder, images_to_tensor
from dso.models.flow import SparseStructureFlowModel
from dso.models.loading import save_model
from dso.models.pretrain_config import PretrainConfig
from dso.models.rectified_flow import per_sample_error, sample_t
from dso.models.vae import SparseStructureDecoder, SparseStructureEncoder
from dso.publish import replace_folder, temp_folder

Logger = Callable[[dict], None]


@dataclass
class TrainingSet:
    """Occupancy grids `bool [N, R, R, R]` and their views `uint8 [N, V, H, W, 3]`."""

    grids: np.ndarray
    images: np.ndarray

    def __post_init__(self) -> None:
        if self.grids.ndim != 4 or self.images.ndim != 5 or len(self.grids) != len(self.images):
            raise ValueError(
                f"expected grids [N, R, R, R] and images [N, V, H, W, 3], got "
                f"{self.grids.shape} and {self.images.shape}"
            )
        if len(self.grids) == 0:
            raise ValueError("the training set is empty")


def load_world_split(world: str | Path, split: str = "train", image_size: int = 64,
                     progress: bool = True) -> TrainingSet:
    """Grids and views of every object of a built world's split (views resized if needed).

    A held-out split (eval, wild) is refused: what dso-tiny trains on is no longer held out."""
    from dso.world import World
    from dso.world.plan import HELD_OUT_SPLITS

    if split in HELD_OUT_SPLITS:
        raise ValueError(
            f"split {split!r} is held out: pretraining on it would make the base model's "
            f"{'/'.join(HELD_OUT_SPLITS)} numbers no longer held-out results; train on 'train'")
    objects = World.open(world).objects(split)
    if not objects:
        raise ValueError(f"world {world} has no objects in split {split!r}")
    grids, images = [], []
    n_views = min(len(o.views) for o in objects)
    for obj in tqdm(objects, desc=f"load {split}", leave=False, disable=not progress):
        grids.append(obj.grid())
        views = obj.images()[:n_views]
        if views[0].shape[:2] != (image_size, image_size):
            resized = images_to_tensor(views, image_size).mul(255).round().to(torch.uint8)
            views = list(resized.permute(0, 2, 3, 1).numpy())
        images.append(np.stack(views))
    return TrainingSet(np.stack(grids), np.stack(images))


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _check_finite(value: torch.Tensor, what: str, step: int, lr_name: str, lr: float) -> None:
    """Stop the run on a NaN or infinite loss (or latents): training on would only save broken
    weights. `what` names the stage's value, e.g. "vae loss"."""
    if not torch.isfinite(value).all():
        state = f"is {value.item()}" if value.numel() == 1 else "are not finite"
        raise ValueError(f"pretraining diverged: the {what} {state} at step {step}, nothing was "
                         f"saved; rerun with a lower {lr_name} (now {lr:g})")


def _vae_loss(logits: torch.Tensor, target: torch.Tensor, cfg: PretrainConfig) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    tgt = target.flatten(1)
    dice = 1 - (2 * (prob * tgt).sum(1) + 1) / (prob.sum(1) + tgt.sum(1) + 1)
    return bce + cfg.dice_weight * dice.mean()


def vae_modules(cfg: PretrainConfig) -> tuple[dict, dict]:
    """Constructor args of the encoder and decoder."""
    common = dict(
        latent_channels=cfg.latent_channels,
        num_res_blocks=cfg.vae_res_blocks,
        num_res_blocks_middle=cfg.vae_middle_blocks,
    )
    enc = dict(in_channels=1, channels=list(cfg.vae_channels), **common)
    dec = dict(out_channels=1, channels=list(cfg.vae_channels[::-1]), **common)
    return enc, dec


def train_vae(
    data: TrainingSet, cfg: PretrainConfig, log: Logger, progress: bool = True
) -> tuple[SparseStructureEncoder, SparseStructureDecoder]:
    """Phase 1: the structure VAE on the occupancy grids."""
    enc_args, dec_args = vae_modules(cfg)
    encoder, decoder = SparseStructureEncoder(**enc_args), SparseStructureDecoder(**dec_args)
    params = [*encoder.parameters(), *decoder.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.vae_lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    grids = torch.from_numpy(data.grids)
    for step in tqdm(range(cfg.vae_steps), desc="pretrain vae", disable=not progress):
        for group in opt.param_groups:
            group["lr"] = cfg.vae_lr * _lr_factor(step, cfg.vae_steps, cfg.vae_warmup_steps)
        idx = torch.randint(len(grids), (cfg.vae_batch,), generator=gen)
        x = grids[idx, None].float()
        mean, logvar = encoder.posterior(x)
        logvar = logvar.clamp(-30, 20)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
        recon = _vae_loss(decoder(z), x, cfg)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).mean()
        loss = recon + cfg.kl_weight * kl
        _check_finite(loss, "vae loss", step, "vae_lr", cfg.vae_lr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % cfg.log_every == 0 or step == cfg.vae_steps - 1:
            log(
                {
                    "phase": "vae",
                    "step": step,
                    "loss": loss.item(),
                    "recon": recon.item(),
                    "kl": kl.item(),
                }
            )
    return encoder.eval(), decoder.eval()


@torch.no_grad()
def encode_all(encoder: SparseStructureEncoder, grids: np.ndarray, batch: int = 32) -> torch.Tensor:
    """Posterior means of all grids."""
    x = torch.from_numpy(grids)
    return torch.cat([encoder(x[i : i + batch, None].float()) for i in range(0, len(x), batch)])


@torch.no_grad()
def standardise_latents(
    encoder: SparseStructureEncoder, decoder: SparseStructureDecoder, latents: torch.Tensor
) -> torch.Tensor:
    """Fold a per-channel scale into the VAE so the latents have unit std; returns new latents."""
    scale = latents.transpose(0, 1).flatten(1).std(dim=1).clamp_min(1e-6)  # [C]
    c = len(scale)
    out_conv = encoder.out_layer[2]
    out_conv.weight[:c] /= scale.view(-1, 1, 1, 1, 1)
    out_conv.bias[:c] /= scale
    out_conv.bias[c:] -= 2 * torch.log(scale)  # logvar of the rescaled posterior
    decoder.input_layer.weight.mul_(scale.view(1, -1, 1, 1, 1))
    return latents / scale.view(1, -1, 1, 1, 1)


def flow_modules(cfg: PretrainConfig, latent_res: int) -> tuple[dict, dict]:
    """Constructor args of the flow transformer and of the image encoder."""
    flow = dict(
        resolution=latent_res,
        in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels,
        model_channels=cfg.flow_width,
        cond_channels=cfg.cond_width,
        num_blocks=cfg.flow_blocks,
        num_heads=cfg.flow_heads,
        mlp_ratio=cfg.mlp_ratio,
        patch_size=cfg.patch_size,
        pe_mode="ape",
        qk_rms_norm=True,
        use_fp16=False,
    )
    image = dict(image_size=cfg.image_size, width=cfg.cond_width, hidden=cfg.cond_width // 2)
    return flow, image


def train_flow(
    latents: torch.Tensor,
    images: np.ndarray,
    cfg: PretrainConfig,
    log: Logger,
    progress: bool = True,
) -> tuple[SparseStructureFlowModel, TinyImageEncoder]:
    """Phase 2: flow transformer and image encoder on (latent, random view) pairs."""
    flow_args, image_args = flow_modules(cfg, latents.shape[-1])
    flow, image_encoder = SparseStructureFlowModel(**flow_args), TinyImageEncoder(**image_args)
    params = [*flow.parameters(), *image_encoder.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.flow_lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    pixels = torch.from_numpy(images).permute(0, 1, 4, 2, 3)  # uint8 [N, V, 3, H, W]
    n, n_views = pixels.shape[:2]
    flow.train()
    image_encoder.train()
    for step in tqdm(range(cfg.flow_steps), desc="pretrain flow", disable=not progress):
        for group in opt.param_groups:
            group["lr"] = cfg.flow_lr * _lr_factor(step, cfg.flow_steps, cfg.warmup_steps)
        idx = torch.randint(n, (cfg.flow_batch,), generator=gen)
        view = torch.randint(n_views, (cfg.flow_batch,), generator=gen)
        cond = image_encoder(pixels[idx, view].float() / 255.0)
        keep = torch.rand(cfg.flow_batch, generator=gen) >= cfg.cond_dropout
        cond = cond * keep.view(-1, 1, 1).to(cond.dtype)
        x0 = latents[idx]
        t = sample_t(cfg.flow_batch, gen)
        eps = torch.randn(x0.shape, generator=gen)
        loss = per_sample_error(flow, x0, cond, t, eps).mean()
        _check_finite(loss, "flow loss", step, "flow_lr", cfg.flow_lr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % cfg.log_every == 0 or step == cfg.flow_steps - 1:
            log({"phase": "flow", "step": step, "loss": loss.item()})
    return flow.eval(), image_encoder.eval()


# The files pretraining writes into a weights folder.
WRITTEN = (*(f"{part}.{ext}" for part in ("flow", "decoder", "encoder", "image_encoder")
             for ext in ("json", "safetensors")), "generator.json", "pretrain_log.jsonl",
           "pretrain.json")


def pretrain(
    data: TrainingSet,
    out: str | Path,
    cfg: PretrainConfig | None = None,
    progress: bool = True,
    source: dict | None = None,
) -> Path:
    """Train VAE then flow + image encoder; write a dso-tiny weights folder to `out`.

    Everything is written into a temporary folder beside `out`, which then replaces `out`
    whole (`dso.publish.replace_folder`; files of `out` that pretraining does not write are
    copied over first): a run that fails (diverges, is interrupted, finds the disk full, is
    killed while finishing) leaves the weights already in `out` as they were, never a mix of
    old and new files. `source` (e.g. the world's path and build settings) is recorded in
    `pretrain.json`."""
    cfg = cfg or PretrainConfig()
    cfg.validate()
    out = Path(out)
    latent_res = cfg.latent_resolution(data.grids.shape[1])
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder for the weights")
    refuse_foreign_folder(out, "dso-tiny weights", WRITTEN)
    staging, _ = temp_folder(out)
    try:
        _pretrain_into(staging, data, cfg, latent_res, progress, source)
        _keep_others(out, staging)
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _keep_others(out: Path, staging: Path) -> None:
    """Copy what `out` holds besides the files pretraining writes into `staging`."""
    if not out.is_dir():
        return
    for entry in out.iterdir():
        if entry.name in WRITTEN:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, staging / entry.name, follow_symlinks=False)


def _pretrain_into(folder: Path, data: TrainingSet, cfg: PretrainConfig, latent_res: int,
                   progress: bool, source: dict | None) -> None:
    """Train and write every file of `WRITTEN` into `folder`."""
    start = time.perf_counter()
    log_file = (folder / "pretrain_log.jsonl").open("w")

    def log(record: dict) -> None:
        record = {**record, "seconds": round(time.perf_counter() - start, 2)}
        log_file.write(json.dumps(record) + "\n")
        log_file.flush()

    torch.manual_seed(cfg.seed)
    try:
        encoder, decoder = train_vae(data, cfg, log, progress)
        latents = standardise_latents(encoder, decoder, encode_all(encoder, data.grids))
        _check_finite(latents, "vae latents", cfg.vae_steps, "vae_lr", cfg.vae_lr)
        log({"phase": "latents", "count": len(latents), "std": latents.std().item()})
        flow, image_encoder = train_flow(latents, data.images, cfg, log, progress)
    finally:
        log_file.close()
    enc_args, dec_args = vae_modules(cfg)
    flow_args, image_args = flow_modules(cfg, latent_res)
    dtype = getattr(torch, cfg.save_dtype)
    save_model(flow, folder, "flow", flow_args, dtype)
    save_model(decoder, folder, "decoder", dec_args, dtype)
    save_model(encoder, folder, "encoder", enc_args, dtype)
    save_model(image_encoder, folder, "image_encoder", image_args, dtype)
    sampler = {"steps": cfg.sample_steps, "guidance": cfg.guidance}
    generator = json.dumps({"name": "dso-tiny", "sampler": sampler}) + "\n"
    (folder / "generator.json").write_text(generator)
    summary = {
        "config": cfg.to_dict(),
        "source": source or {},
        "objects": len(data.grids),
        "seconds": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
    }
    (folder / "pretrain.json").write_text(json.dumps(summary, indent=2) + "\n")
