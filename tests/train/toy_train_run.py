"""Run a toy DRO training in its own process (for the crash-resume test).

usage: python toy_train_run.py OUT STEPS DELAY [--resume]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from train_fixtures import ToySource, tiny_generator  # noqa: E402

from dso.train import TrainConfig, train  # noqa: E402


def config(out: str, steps: int) -> TrainConfig:
    """The toy run's settings (shared with the in-process reference run)."""
    return TrainConfig(dataset="unused", out=out, objective="dro", steps=steps, batch_size=8,
                       lr=2e-3, warmup=3, save_every=4, lora_rank=8, lora_alpha=16,
                       lora_dropout=0.1, seed=7)


def main() -> None:
    out, steps, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(1)
    result = train(config(out, steps), generator=tiny_generator(),
                   source=ToySource("dro", 8, seed=7, delay=delay),
                   resume="--resume" in sys.argv, progress=False)
    print(f"resumed_from={result.resumed_from} ran={len(result.losses)}")


if __name__ == "__main__":
    main()
