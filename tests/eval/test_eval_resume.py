"""A killed evaluation resumes from its kept rows (`evaluate(partial=...)`, `dso eval`)."""

import json

import pytest

from dso.eval.run import evaluate
from tests.eval.conftest import ShapeGenerator


class CountingGenerator(ShapeGenerator):
    """The toy generator, counting the images it is asked to sample."""

    def __init__(self) -> None:
        super().__init__()
        self.images = 0

    def generate(self, images, **kwargs):
        self.images += len(images)
        return super().generate(images, **kwargs)


def _run(world, gen, **kw):
    kw.setdefault("chunk", 2)
    return evaluate(gen, world, "eval", samples_per_image=2, workers=1, n_points=300,
                    bootstrap=0, progress=False, **kw)


def test_a_killed_evaluation_resumes_with_the_uninterrupted_rows(tmp_path, toy_world):
    whole = _run(toy_world, ShapeGenerator())
    partial = tmp_path / "eval.partial.jsonl"
    assert _run(toy_world, ShapeGenerator(), partial=partial)["items"] == whole["items"]
    lines = partial.read_text().splitlines()
    n_chunks = len(lines) - 1
    assert n_chunks == 4 and all(len(json.loads(x)["rows"]) == 4 for x in lines[1:])
    # killed after two chunks, in the middle of writing the third
    partial.write_text("\n".join(lines[:3]) + "\n" + lines[3][: len(lines[3]) // 2])
    gen = CountingGenerator()
    again = _run(toy_world, gen, partial=partial)
    assert again["items"] == whole["items"] and again["overall"] == whole["overall"]
    assert gen.images == 4  # only the prompts of the two chunks not kept
    assert len(partial.read_text().splitlines()) == 1 + 1 + 2  # kept rows, two new chunks


def test_rows_of_other_settings_are_not_resumed(tmp_path, toy_world):
    partial = tmp_path / "eval.partial.jsonl"
    _run(toy_world, ShapeGenerator(), partial=partial, seed=5)
    gen = CountingGenerator()
    other = _run(toy_world, gen, partial=partial)  # another seed: started over
    assert other["items"] == _run(toy_world, ShapeGenerator())["items"]
    assert gen.images == 8


class Interrupted(ShapeGenerator):
    def generate(self, images, **kw):
        raise KeyboardInterrupt


def test_an_interrupt_closes_the_progress_bars_before_the_message(toy_world):
    from tqdm.auto import tqdm

    with pytest.raises(KeyboardInterrupt) as interrupted:  # its traceback keeps the bars alive
        evaluate(Interrupted(), toy_world, "eval", workers=1, progress=True, n_points=200)
    assert interrupted.traceback and not [bar for bar in list(tqdm._instances)
                                          if bar.desc in ("evaluate", "generate")]
