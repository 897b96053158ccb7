"""The Generator contract on a small random dso-tiny-format model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from dso.errors import UnknownNameError
from dso.models import GeneratedSample, Generator, available_generators, get_generator
from dso.models.loading import ModelLoadError


def _images(k: int, size: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(k)]


@pytest.fixture
def gen(tiny_dir: Path) -> Generator:
    return get_generator("dso-tiny", weights=tiny_dir)


def test_interface_shapes(gen: Generator) -> None:
    assert isinstance(gen, Generator)
    assert gen.resolution == 8 and gen.latent_shape == (2, 4, 4, 4)
    assert gen.sampler.steps == 3 and gen.sampler.guidance == 2.0  # from generator.json
    cond = gen.condition(_images(3))
    assert cond.shape == (3, 4, 16)
    lat = gen.sample_latents(cond, [1, 2, 3])
    assert lat.shape == (3, 2, 4, 4, 4) and lat.dtype == torch.float32
    occ = gen.decode(lat)
    assert occ.shape == (3, 8, 8, 8) and occ.dtype == bool
    assert gen.encode(occ).shape == (3, 2, 4, 4, 4)
    assert gen.encode(occ[0]).shape == (1, 2, 4, 4, 4)
    x = torch.randn(2, *gen.latent_shape)
    assert gen.flow(x, torch.tensor([500.0, 20.0]), cond[:2]).shape == x.shape


def test_generate_seeds_and_batching(gen: Generator) -> None:
    images = _images(3)
    a = gen.generate(images, n=2, seed=10, batch_size=4)
    assert [(s.prompt_index, s.sample_index, s.seed) for s in a] == [
        (i, j, 10 + 2 * i + j) for i in range(3) for j in range(2)
    ]
    assert all(isinstance(s, GeneratedSample) for s in a)
    b = gen.generate(images, n=2, seed=10, batch_size=1)
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x.latent, y.latent, atol=1e-5)
    # one sample alone, from its seed and its prompt
    alone = gen.sample_latents(gen.condition([images[2]]), [a[5].seed])
    assert torch.allclose(alone[0], a[5].latent, atol=1e-5)
    # different seeds, different samples; a different prompt changes the sample
    assert not torch.allclose(a[0].latent, a[1].latent)
    c = gen.generate(images[:1], n=1, seed=12)
    assert not torch.allclose(c[0].latent, a[2].latent, atol=1e-3)


def test_meshes_follow_the_occupancy(gen: Generator) -> None:
    samples = gen.generate(_images(2), n=2, seed=0)
    for s in samples:
        assert s.occupancy.shape == (8, 8, 8)
        if s.occupancy.any():
            assert isinstance(s.mesh, trimesh.Trimesh) and s.mesh.is_watertight
            assert np.all(np.abs(s.mesh.vertices) <= 0.5 + 1e-9)
        else:
            assert s.mesh is None
    assert any(s.mesh is not None for s in samples)


def test_empty_grid_gives_no_mesh(tiny_dir: Path) -> None:
    gen = get_generator("dso-tiny", weights=tiny_dir)
    with torch.no_grad():
        gen.decoder.out_layer[2].bias.fill_(-1e3)
    (s,) = gen.generate(_images(1), n=1)
    assert not s.occupancy.any() and s.mesh is None


def test_sampler_overrides(gen: Generator) -> None:
    cond = gen.condition(_images(1))
    a = gen.sample_latents(cond, [0], steps=2, guidance=0.0)
    b = gen.sample_latents(cond, [0], steps=2, guidance=5.0)
    assert not torch.allclose(a, b)
    with pytest.raises(TypeError, match="unknown sampler settings"):
        gen.generate(_images(1), cfg_strength=3.0)


def test_registry_and_errors(tmp_path: Path) -> None:
    assert {"dso-tiny", "trellis"} <= set(available_generators())
    with pytest.raises(UnknownNameError, match="unknown generator 'nope'; known: dso-tiny"):
        get_generator("nope")
    with pytest.raises(KeyError):  # the registry's old error type still catches it
        get_generator("nope")
    with pytest.raises(ModelLoadError, match="no dso-tiny weights"):
        get_generator("dso-tiny", weights=tmp_path)
    with pytest.raises(ModelLoadError, match="needs its weights: --weights DIR"):
        get_generator("trellis")


def test_registry_takes_import_paths_and_generators_import_no_registry() -> None:
    from dso.models import register_generator
    from dso.models.registry import _REGISTRY

    register_generator("tiny-by-path", "dso.models.tiny:TinyGenerator.load")
    try:
        assert get_generator("tiny-by-path").name == "dso-tiny"
    finally:
        _REGISTRY.pop("tiny-by-path")
    # the modules of generators and the interface never import the registry (no circle)
    for name in ("generator", "stage1", "tiny", "trellis"):
        source = (Path(__file__).parents[2] / "src/dso/models" / f"{name}.py").read_text()
        assert "registry" not in source.split('"""', 2)[-1], name


def test_bad_images_are_refused(gen: Generator) -> None:
    with pytest.raises(ValueError, match="expected an H x W x 3"):
        gen.condition([np.zeros((8, 8, 5), dtype=np.uint8)])
    assert gen.condition([np.zeros((8, 8), dtype=np.uint8)]).shape[0] == 1  # grey is fine


def test_cpu_batch_settings_keep_the_samples() -> None:
    """dso-tiny's CPU settings (flow calls of 32 rows when the rows split evenly so, decoding 8
    grids at a time) give the samples of one flow call per step and 32 grids per decoder call,
    to the bit."""
    fast = get_generator("dso-tiny")  # the shipped weights
    assert (fast.flow_batch, fast.decode_batch) == (32, 8)
    plain = get_generator("dso-tiny")
    plain.flow_batch, plain.decode_batch = None, 32
    rows: list[int] = []
    fast.flow.register_forward_pre_hook(lambda _m, args: rows.append(args[0].shape[0]))
    images = _images(10, size=64)
    a = fast.generate(images, n=4, seed=3, batch_size=32)  # batches of 32 and 8 samples
    b = plain.generate(images, n=4, seed=3, batch_size=32)
    # 32 samples: guided steps 64 rows -> 2 x 32, plain steps 32; 8 samples: 16 and 8 rows
    assert set(rows) == {32, 16, 8}
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.latent, y.latent)
        assert np.array_equal(x.occupancy, y.occupancy)
    # 17 grids decode as 8 + 9: a grid alone in a call would differ (oneDNN, ~4e-5)
    lat = torch.stack([s.latent for s in a[:17]])
    assert torch.equal(fast.decode_logits(lat), plain.decode_logits(lat))


@pytest.mark.parametrize(("sampler", "message"), [
    ({"steps": 3, "cfg_strength": 3.0}, "unknown sampler setting 'cfg_strength'; known: "),
    ({"steps": "3"}, "sampler setting 'steps' must be an integer, got '3'"),
    ({"guidance": True}, "sampler setting 'guidance' must be a number, got True"),
    ({"cfg_interval": 0.5}, "sampler setting 'cfg_interval' must be a list of 2 numbers"),
    ({"guidance_form": 2}, "sampler setting 'guidance_form' must be a str, got 2"),
    ({"steps": 0}, "steps must be >= 1, got 0"),
])
def test_a_bad_generator_json_names_file_and_key(tiny_dir: Path, tmp_path: Path,
                                                 sampler: dict, message: str) -> None:
    import json
    import shutil

    folder = tmp_path / "w"
    shutil.copytree(tiny_dir, folder)
    (folder / "generator.json").write_text(json.dumps({"sampler": sampler}))
    with pytest.raises(ModelLoadError) as err:
        get_generator("dso-tiny", weights=folder)
    assert str(err.value).startswith(f"{folder / 'generator.json'}: ") and message in str(err.value)
    (folder / "generator.json").write_text(json.dumps({"sampler": {"cfg_interval": [0.4, 0.9]}}))
    assert get_generator("dso-tiny", weights=folder).sampler.cfg_interval == (0.4, 0.9)
