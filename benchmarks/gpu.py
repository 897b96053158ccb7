"""GPU check of TRELLIS stage 1 at the released size: sampling, DRO and DPO steps, the oracle.

    python benchmarks/gpu.py [--prompts 8] [--checkpointing]   # on a CUDA machine, < 5 min
    python benchmarks/gpu.py --generator trellis2              # TRELLIS.2's flow (1.29B)
    python benchmarks/gpu.py --smoke [--generator trellis2]    # every stage, tiny, on the CPU

On CUDA it builds a flow in the released layout (`ss_flow_img_dit_L_16l8_fp16`: 555M
parameters, random weights made on the device) and the released structure decoder, then times
- sampling: 12 Euler steps with guidance 7.5 for a batch of prompts (DINOv2-shaped random
  condition tokens [B, 1374, 1024]) with the blocks' Linear layers in fp16 as released (fp16
  autocast), and decoding to 64^3 grids: seconds per object, peak memory;
- one DRO and one DPO optimizer step of `dso train`'s recipe at batch 8 (DPO: 8 pairs) with
  LoRA r64 / alpha 128 in bf16 autocast: seconds per step (after one warm-up step), peak memory;
- the oracle (`dso.physics.check_many`) on meshes of the decoded grids: seconds per object.
With random weights the grids are not objects, so the oracle figure is the cost of checking
such grids, not a stability result. It prints one table. Without CUDA it says so and exits 0
(CI has no GPU); `--smoke` runs the same code at the golden vectors' size on the CPU (its
figures are the tiny model's CPU cost, not the released model's).

`--generator trellis2`: the same stages for TRELLIS.2's stage-1 flow
(`ss_flow_img_dit_1_3B_64_bf16`, 1.29B parameters; DINOv3-shaped condition tokens
[B, 1029, 1024]; its sampler: guidance 7.5 in its form with x0 rescale 0.7, interval [0.6, 1],
rescale_t 5) with the blocks' Linear layers in bf16 as released (bf16 autocast), and the same
TRELLIS structure decoder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np
import torch

# the golden vectors' sizes (tests/models/golden/trellis-stage1/configs.json): for --smoke
SMOKE_FLOW = dict(resolution=8, in_channels=8, out_channels=8, model_channels=64,
                  cond_channels=32, num_blocks=2, num_heads=4, mlp_ratio=4, patch_size=1,
                  pe_mode="ape", qk_rms_norm=True, use_fp16=True)
SMOKE_DECODER = dict(out_channels=1, latent_channels=8, num_res_blocks=1,
                     num_res_blocks_middle=1, channels=[32, 16, 8], use_fp16=True)
# TRELLIS.2's golden size (tests/models/golden/trellis2-stage1/configs.json, flow_rope) in bf16
SMOKE_FLOW2 = dict(resolution=8, in_channels=8, out_channels=8, model_channels=64,
                   cond_channels=32, num_blocks=2, num_heads=2, mlp_ratio=5.3334, pe_mode="rope",
                   share_mod=True, initialization="scaled", qk_rms_norm=True,
                   qk_rms_norm_cross=True, dtype="bfloat16")
TOKENS = {"trellis": 1374, "trellis2": 1029}  # DINOv2 ViT-L/14 at 518 px, DINOv3 ViT-L/16 at 512


def _sampler(generator: str):
    """The generator's stage-1 sampling settings (12 steps, guidance 7.5 in its own form)."""
    from dso.models.sampler import SamplerConfig

    if generator == "trellis2":
        from dso.models.trellis2 import SAMPLER

        return SAMPLER
    return SamplerConfig(steps=12, guidance=7.5)


class Timer:
    """Wall time and peak device memory of a block (CUDA synchronised)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.seconds, self.peak_gib = float("nan"), float("nan")

    def __enter__(self) -> Timer:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak_gib = torch.cuda.max_memory_allocated() / 2**30
        self.seconds = time.perf_counter() - self.start


def _flow_args(generator: str, smoke: bool) -> dict:
    if generator == "trellis2":
        from dso.models.trellis2 import FLOW_NAME, RELEASED_ARGS

        return dict(SMOKE_FLOW2 if smoke else RELEASED_ARGS[FLOW_NAME])
    from dso.models.trellis import FLOW_NAME, RELEASED_ARGS

    return dict(SMOKE_FLOW if smoke else RELEASED_ARGS[FLOW_NAME])


def _models(smoke: bool, device: torch.device, checkpointing: bool, generator: str = "trellis"):
    """The flow (float32, as dso trains it) and the structure decoder, random weights."""
    from dso.models.flow import SparseStructureFlowModel
    from dso.models.trellis import DECODER_NAME, RELEASED_ARGS
    from dso.models.vae import SparseStructureDecoder

    flow_args = _flow_args(generator, smoke)
    dec_args = SMOKE_DECODER if smoke else RELEASED_ARGS[DECODER_NAME]
    torch.manual_seed(0)
    with torch.device(device):
        flow = SparseStructureFlowModel(**flow_args, use_checkpoint=checkpointing).float()
        decoder = SparseStructureDecoder(**dec_args).eval()
    with torch.no_grad():  # the zero-initialised layers random too, so outputs are not trivial
        adaLN = [flow.adaLN_modulation] if flow.share_mod else [b.adaLN_modulation
                                                                for b in flow.blocks]
        for layer in adaLN:
            layer[-1].weight.normal_(0, 0.02)
        flow.out_layer.weight.normal_(0, 0.02)
    return flow, decoder


def _fp16_blocks(flow: torch.nn.Module, args: dict | None = None) -> torch.nn.Module:
    """A copy holding the released dtypes: the blocks' Linear layers in fp16 (v1's use_fp16)
    or in the dtype of TRELLIS.2's `dtype` argument (bf16)."""
    import copy

    from dso.models.loading import args_blocks_dtype, release_dtypes

    half = copy.deepcopy(flow).eval()
    dtypes = release_dtypes(half, args_blocks_dtype(args) if args else True)
    with torch.no_grad():
        for name, p in half.named_parameters():
            p.data = p.data.to(dtypes[name])
    return half


def _cond(n: int, flow, smoke: bool, device: torch.device) -> torch.Tensor:
    tokens = 16 if smoke else TOKENS["trellis2" if flow.pe_mode == "rope" else "trellis"]
    g = torch.Generator(device=device).manual_seed(1)
    return torch.randn(n, tokens, flow.cond_channels, generator=g, device=device)


def bench_sampling(flow, decoder, prompts: int, smoke: bool, device: torch.device,
                   generator: str = "trellis") -> dict:
    """Seconds per object for 12 guided steps + decode, peak memory; the decoded grids."""
    from dso.models.sampler import sample
    from dso.models.stage1 import seeded_noise

    half = _fp16_blocks(flow, _flow_args(generator, smoke) if generator == "trellis2" else None)
    amp = torch.float16 if device.type == "cuda" and generator == "trellis" else torch.bfloat16
    cfg = _sampler(generator)
    cond = _cond(prompts, flow, smoke, device)
    shape = (flow.in_channels, *[flow.resolution] * 3)
    noise = seeded_noise(shape, range(prompts)).to(device)
    autocast = torch.autocast(device.type, dtype=amp)
    with torch.no_grad(), autocast:
        sample(half, noise[:1], cond[:1], cfg.override(steps=1))  # warm-up
        with Timer(device) as t_sample:
            latents = sample(half, noise, cond, cfg)
        with Timer(device) as t_decode:
            grids = (decoder(latents.float())[:, 0] > 0).cpu().numpy()
    del half
    return {"sample_s": t_sample.seconds / prompts, "sample_gib": t_sample.peak_gib,
            "decode_s": t_decode.seconds / prompts, "decode_gib": t_decode.peak_gib,
            "grids": grids}


class _Batches:
    """Fixed random batches (`dso.objectives.Batch`) in the objective's layout."""

    def __init__(self, objective: str, batch: int, flow, smoke: bool, device) -> None:
        from dso.objectives import Batch

        g = torch.Generator().manual_seed(0)
        shape = (batch, flow.in_channels, *[flow.resolution] * 3)
        cond = _cond(batch, flow, smoke, device).cpu()
        if objective == "dpo":
            self.data = Batch.of_pairs(torch.randn(shape, generator=g),
                                       torch.randn(shape, generator=g), cond)
        else:
            self.data = Batch(torch.randn(shape, generator=g), cond,
                              torch.arange(batch) < batch // 2)

    def batch(self, step: int):
        return self.data


def bench_train(flow, objective: str, batch: int, smoke: bool, device: torch.device) -> dict:
    """Seconds and peak memory of one optimizer step (LoRA r64, bf16 autocast on CUDA)."""
    from dso.train.config import TrainConfig
    from dso.train.recipe import Recipe

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(dataset="memory", out=f"{tmp}/{objective}", objective=objective,
                          batch_size=batch, steps=10, lora_rank=64, lora_alpha=128.0,
                          device=str(device), bf16=True, warmup=0)
        gen = SimpleNamespace(flow=flow)
        recipe = Recipe(cfg, generator=gen, source=_Batches(objective, batch, flow, smoke,
                                                             device), progress=False).setup()
        try:
            recipe.train_step(0)  # warm-up (kernels, optimizer state)
            with Timer(device) as t:
                record = recipe.train_step(1)
        finally:
            gen.flow = recipe.model.unload()  # the bare flow back for the next stage
            del recipe
    return {"s": t.seconds, "gib": t.peak_gib, "loss": record["loss"]}


def bench_oracle(grids: np.ndarray, workers: int) -> dict:
    """Seconds per object to mesh the grids (marching cubes) and run the oracle on them."""
    from dso.geometry import grid_to_mesh
    from dso.physics import check_many

    start = time.perf_counter()
    meshes = [grid_to_mesh(g) for g in grids]
    present = [m for m in meshes if m is not None]
    results = check_many(present, workers=workers) if present else []
    seconds = time.perf_counter() - start
    ok = sum(r.status == "ok" for r in results)
    return {"s": seconds / len(grids), "ok": ok, "errors": len(results) - ok,
            "empty": len(meshes) - len(present)}


def _row(name: str, value: str, memory: float, note: str = "") -> str:
    mem = "-" if memory != memory else f"{memory:.1f}"  # NaN on the CPU
    return f"| {name} | {value} | {mem} | {note} |"


def _guard(fn, *args) -> dict:
    """Run a stage; a CUDA out-of-memory error becomes a row instead of ending the check."""
    try:
        return fn(*args)
    except torch.cuda.OutOfMemoryError as err:
        torch.cuda.empty_cache()
        return {"oom": str(err).splitlines()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8, help="objects sampled in one batch")
    parser.add_argument("--batch", type=int, default=8, help="training batch (DPO: pairs)")
    parser.add_argument("--workers", type=int, default=8, help="oracle processes")
    parser.add_argument("--checkpointing", action="store_true",
                        help="gradient checkpointing in the blocks (less training memory)")
    parser.add_argument("--smoke", action="store_true",
                        help="run every stage at the golden vectors' size on the CPU")
    parser.add_argument("--generator", default="trellis", choices=sorted(TOKENS),
                        help="whose released flow: trellis (555M) or trellis2 (1.29B)")
    args = parser.parse_args(argv)
    if not args.smoke and not torch.cuda.is_available():
        print("gpu check skipped: no CUDA device (torch.cuda.is_available() is False)")
        return 0
    device = torch.device("cpu" if args.smoke else "cuda")
    began = time.perf_counter()
    flow, decoder = _models(args.smoke, device, args.checkpointing, args.generator)
    n_params = sum(p.numel() for p in flow.parameters())
    gpu = "CPU (smoke)" if args.smoke else torch.cuda.get_device_name(0)
    print(f"{gpu}; {args.generator} flow {n_params / 1e6:.1f}M parameters ({n_params:,}), "
          f"torch {torch.__version__}")
    sampled = _guard(bench_sampling, flow, decoder, args.prompts, args.smoke, device,
                     args.generator)
    dro = _guard(bench_train, flow, "dro", args.batch, args.smoke, device)
    dpo = _guard(bench_train, flow, "dpo", args.batch, args.smoke, device)
    oracle = bench_oracle(sampled["grids"], args.workers) if "grids" in sampled else None
    res = flow.resolution * 2 ** _upsamples(decoder)
    rows = ["| stage | time | peak GiB | note |", "|---|---|---|---|"]
    if "oom" in sampled:
        rows.append(_row("sample 12 steps, guidance 7.5", "OOM", float("nan"), sampled["oom"]))
    else:
        blocks = "bf16" if args.generator == "trellis2" else "fp16"
        rows.append(_row("sample 12 steps, guidance 7.5", f"{sampled['sample_s']:.3g} s/object",
                         sampled["sample_gib"], f"batch {args.prompts}, {blocks} blocks"))
        rows.append(_row(f"decode to {res}^3", f"{sampled['decode_s']:.3f} s/object",
                         sampled["decode_gib"], ""))
    for name, r in (("DRO step", dro), ("DPO step", dpo)):
        label = f"{name}, batch {args.batch}, LoRA r64, bf16"
        if "oom" in r:
            rows.append(_row(label, "OOM", float("nan"), "try --checkpointing"))
        else:
            rows.append(_row(label, f"{r['s']:.2f} s/step", r["gib"], f"loss {r['loss']:.4f}"))
    if oracle is not None:
        rows.append(_row(f"oracle on {res}^3 grids", f"{oracle['s']:.3f} s/object", float("nan"),
                         f"ok {oracle['ok']}, errors {oracle['errors']}, "
                         f"empty {oracle['empty']} (random weights)"))
    print("\n".join(rows))
    print(f"total {time.perf_counter() - began:.0f} s")
    return 0


def _upsamples(decoder) -> int:
    from dso.models.vae import UpsampleBlock3d

    return sum(isinstance(b, UpsampleBlock3d) for b in decoder.blocks)


if __name__ == "__main__":
    sys.exit(main())
