"""Base vs tuned picture grid on the same prompts and seeds."""

import numpy as np
from PIL import Image

from dso.eval.gallery import compare_gallery, gallery_prompts, spread_prompts
from dso.eval.run import evaluate, select_prompts
from tests.eval.conftest import ShapeGenerator, block_grid


class AlwaysBlock(ShapeGenerator):
    name = "tuned"

    def decode(self, latents):
        return np.stack([block_grid() for _ in range(len(latents))])


class Failing(ShapeGenerator):
    def generate(self, images, **kw):
        raise RuntimeError("no weights")


def test_spread_prompts_cycles_families(toy_world):
    prompts = spread_prompts(select_prompts(toy_world.objects("eval")), 4)
    assert [p.obj.family for p in prompts] == ["block", "topple", "void", "block"]
    assert len(spread_prompts(select_prompts(toy_world.objects("eval")), 100)) == 8


def test_the_gallery_draws_the_samples_the_eval_table_counted(toy_world):
    generator = ShapeGenerator()
    kw = {"seed": 7, "samples_per_image": 2, "limit": 5}
    rows = evaluate(generator, toy_world, "eval", workers=1, progress=False, n_points=200,
                    bootstrap=0, **kw)["items"]
    seeds = {(r["object_id"], r["view"]): r["seed"] for r in rows if r["sample"] == 0}
    chosen = gallery_prompts(toy_world, "eval", 4, **kw)
    assert [p.obj.family for p, _ in chosen] == ["block", "topple", "void", "block"]
    assert len(gallery_prompts(toy_world, "eval", 100, **kw)) == len(seeds) == 5  # the limit
    for prompt, seed in chosen:
        assert seeds[(prompt.obj.id, prompt.view)] == seed
        assert generator.generate([prompt.image], n=1, seed=seed)[0].seed == seed


def test_gallery_png_has_a_column_per_model(tmp_path, toy_world):
    gens = {"base": ShapeGenerator(), "dro": AlwaysBlock(), "broken": Failing()}
    out = compare_gallery(gens, toy_world, "eval", tmp_path / "grid.png", n_prompts=3, size=48)
    image = Image.open(out)
    assert image.format == "PNG"
    width, height = image.size
    assert width > height  # 4 columns (prompt + 3 models) by 3 rows
    assert np.asarray(image.convert("L")).std() > 5


def test_each_render_is_captioned_with_the_oracles_verdict():
    import trimesh

    from dso.eval.gallery import caption
    from dso.physics import check_mesh

    box = trimesh.creation.box((1.0, 1.0, 0.5))
    apart = trimesh.util.concatenate([box, box.copy().apply_translation((3.0, 0.0, 0.0))])
    leaning = trimesh.creation.box((0.2, 0.2, 2.0))
    leaning.apply_transform(trimesh.transformations.rotation_matrix(0.6, (1, 0, 0)))
    assert caption(check_mesh(box)) == "stable 0°"
    assert caption(check_mesh(apart)) == "PIECES (2)"
    assert caption(check_mesh(leaning)).startswith("FALLS ")
