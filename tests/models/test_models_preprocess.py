"""Prompt images prepared as TRELLIS does: RGBA cropped to the object, RGB on a plain background
as is, busy photos refused with a message; the same preparation in Python and `dso generate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from dso.cli import app
from dso.models import get_generator
from dso.models.preprocess import ImageError, prepare_image, read_image


def _rgba(h: int, w: int, box: tuple[int, int, int, int], colour=(200, 40, 40),
          backdrop=(255, 255, 255)) -> np.ndarray:
    """An h x w RGBA image: an opaque `colour` rectangle (x0, y0, x1, y1 exclusive) on a
    fully transparent `backdrop` (the colour under alpha 0 must not show)."""
    img = np.zeros((h, w, 4), dtype=np.uint8)
    img[..., :3] = backdrop
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1, :3] = colour
    img[y0:y1, x0:x1, 3] = 255
    return img


def _object_box(img: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(img.max(axis=2) > 60)
    return cols.min(), rows.min(), cols.max(), rows.max()


def _busy(h: int = 96, w: int = 128) -> np.ndarray:
    """A photo-like RGB image: smooth colour gradients plus texture everywhere."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    img = np.stack([x * 2, y * 2, (x + y)], axis=2) + rng.integers(0, 60, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_off_centre_rgba_object_is_cropped_centred_with_margin_on_black():
    img = _rgba(120, 200, (130, 10, 170, 50))  # 40 x 40 object in the top-right part
    out = prepare_image(img, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    x0, y0, x1, y1 = _object_box(out)
    side = 64 * 40 / int(39 * 1.2 // 2 * 2)  # object / crop side (TRELLIS: 1.2 x the box)
    assert abs((x1 - x0 + 1) - side) <= 2 and abs((y1 - y0 + 1) - side) <= 2
    assert abs((x0 + x1) / 2 - 31.5) <= 2.5 and abs((y0 + y1) / 2 - 31.5) <= 2.5
    assert out[0, 0].tolist() == [0, 0, 0] and out[-1, -1].tolist() == [0, 0, 0]  # white gone
    centre = out[28:36, 28:36].reshape(-1, 3)
    assert np.abs(centre.astype(int) - [200, 40, 40]).max() <= 2


def test_object_at_the_image_edge_is_padded_not_wrapped():
    img = _rgba(100, 100, (0, 0, 30, 30), colour=(0, 220, 0))  # touches the top-left corner
    out = prepare_image(img, 32)
    x0, y0, x1, y1 = _object_box(out)
    assert abs((x0 + x1) / 2 - 15.5) <= 1.5 and abs((y0 + y1) / 2 - 15.5) <= 1.5
    # 2 of the crop's 34 px lie outside the image (top, left): transparent padding, so dark
    assert out[0, 0].max() < 40 and out[-1, -1].max() == 0
    assert out[..., 0].max() == 0 and out[..., 2].max() == 0  # only the green object shows


def test_partial_alpha_is_premultiplied_and_the_crop_follows_alpha_above_0_8():
    img = _rgba(64, 64, (20, 20, 44, 44))
    img[28:36, 28:36, :3], img[28:36, 28:36, 3] = 200, 230  # inside: alpha 0.9, premultiplied
    img[4:9, 4:60, :3], img[4:9, 4:60, 3] = 255, 150  # faint strip above: alpha 0.59
    out = prepare_image(img, 64)
    # the crop is 1.2 x the opaque square, centred on it: the faint strip is left outside
    x0, y0, x1, y1 = _object_box(out)
    assert x1 - x0 + 1 >= 56 and y1 - y0 + 1 >= 56
    no_strip = img.copy()
    no_strip[4:9, 4:60] = (255, 255, 255, 0)
    assert np.array_equal(out, prepare_image(no_strip, 64))
    assert np.abs(out[33:36, 33:36].astype(int) - [180, 180, 180]).max() <= 3  # 200 * 0.9


def test_rgb_on_black_or_plain_colour_is_taken_as_is(tmp_path: Path):
    rng = np.random.default_rng(1)
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[20:50, 5:40] = rng.integers(0, 255, (30, 35, 3))
    assert np.array_equal(prepare_image(img, 64), img)
    small = prepare_image(img, 16)
    assert small.shape == (16, 16, 3) and small[:4].max() <= 3
    opaque = np.concatenate([img, np.full((64, 64, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(prepare_image(opaque, 64), img)  # opaque RGBA counts as RGB
    white = img.copy()
    white[img.max(axis=2) == 0] = 250
    Image.fromarray(white).save(tmp_path / "white.jpg", quality=90)
    Image.fromarray(img).save(tmp_path / "black.png")
    assert read_image(tmp_path / "white.jpg").shape == (64, 64, 3)
    assert np.array_equal(read_image(tmp_path / "black.png"), img)


def test_bad_images_raise_one_clear_message(tmp_path: Path):
    Image.fromarray(_busy()).save(tmp_path / "photo.jpg")
    with pytest.raises(ImageError, match="background is not plain.*rembg"):
        read_image(tmp_path / "photo.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "missing.png")
    clear = _rgba(32, 32, (4, 4, 10, 10))
    clear[..., 3] = 100
    with pytest.raises(ImageError, match="no pixel has alpha above 0.8"):
        prepare_image(clear, 16)
    with pytest.raises(ImageError, match="expected an H x W x 3"):
        prepare_image(np.zeros((4, 4, 5), np.uint8), 16)


def test_generate_crops_rgba_files_in_python_and_on_the_command_line(tiny_dir: Path, tmp_path):
    from dso.data import SampleStore

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(_rgba(90, 150, (100, 5, 140, 45)), "RGBA").save(folder / "a.png")
    Image.fromarray(_rgba(80, 80, (0, 40, 30, 80), colour=(30, 30, 220)), "RGBA").save(
        folder / "b.webp", lossless=True)
    gen = get_generator("dso-tiny", weights=tiny_dir)
    images = [read_image(folder / "a.png"), read_image(folder / "b.webp")]
    assert [im.shape[2] for im in images] == [4, 4]
    # the generator prepares RGBA itself: same tokens as the prepared (cropped) RGB images
    size = gen.cond_encoder.image_size
    assert torch.equal(gen.condition(images), gen.condition([prepare_image(i, size)
                                                             for i in images]))
    naive = [np.asarray(Image.fromarray(i, "RGBA").convert("RGB")) for i in images]
    assert not torch.allclose(gen.condition(images), gen.condition(naive))
    expected = gen.generate(images, n=1, seed=0)
    result = CliRunner().invoke(app, ["generate", "--generator", "dso-tiny", "--weights",
                                      str(tiny_dir), "--images", str(folder), "--n", "1",
                                      "--out", str(tmp_path / "ds"), "--quiet"])
    assert result.exit_code == 0, result.output
    with SampleStore.open(tmp_path / "ds") as store:
        ids = [s["sample_id"] for s in store.samples()]
        got = store.latents(ids)
    assert torch.equal(got, torch.stack([s.latent for s in expected]))


def test_generate_refuses_a_busy_photo_before_loading_anything(tiny_dir: Path, tmp_path):
    Image.fromarray(_busy()).save(tmp_path / "photo.jpg")
    result = CliRunner().invoke(app, ["generate", "--weights", str(tiny_dir), "--images",
                                      str(tmp_path / "photo.jpg"), "--n", "1", "--out",
                                      str(tmp_path / "ds")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "photo.jpg" in lines[0] and "rembg" in lines[0]
    assert not (tmp_path / "ds").exists()


def test_a_plain_non_black_backdrop_is_prepared_as_the_object_cut_out():
    from dso.models.preprocess import prepare_image

    white = np.full((120, 100, 3), 250, dtype=np.uint8)
    white[30:70, 10:50] = (200, 40, 40)  # an off-centre red block on a white backdrop
    cut = np.zeros((120, 100, 4), dtype=np.uint8)
    cut[30:70, 10:50] = (200, 40, 40, 255)  # the same object as an RGBA cut-out
    keyed = prepare_image(white, 64)
    assert np.array_equal(keyed, prepare_image(cut, 64))
    assert keyed[0, 0].tolist() == [0, 0, 0]  # on black, as TRELLIS's pipeline gives it
    on_black = white.copy()
    on_black[white.max(axis=2) == 250] = 0
    assert np.array_equal(prepare_image(on_black, 64),  # black: taken as is, only resized
                          np.asarray(Image.fromarray(on_black).resize((64, 64), Image.LANCZOS)))
