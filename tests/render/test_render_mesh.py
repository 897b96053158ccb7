"""render_mesh: framing, occlusion, lighting, determinism, bad input."""

import numpy as np
import pytest
import trimesh

from dso.render import render_mesh, render_views, view_azimuths


def _box(extents, at=(0, 0, 0)) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents).apply_translation(at)


def test_image_is_uint8_rgb_on_black_with_the_object_centred():
    img = render_mesh(_box([0.4, 0.4, 0.4]), size=64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    mask = img.max(axis=2) > 0
    assert 0.05 < mask.mean() < 0.5
    assert img[0].max() == 0 and img[:, 0].max() == 0 and img[-1].max() == 0
    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() - 31.5) < 2 and abs(ys.mean() - 31.5) < 3


def test_empty_mesh_renders_black():
    assert render_mesh(trimesh.Trimesh(), size=16).max() == 0


def test_near_object_hides_far_object():
    spin = trimesh.transformations.rotation_matrix(np.pi / 4, [0, 0, 1])
    small = _box([0.2, 0.2, 0.2]).apply_transform(spin).apply_translation((0.3, 0, 0))
    big = _box([0.6, 0.6, 0.6], at=(-0.2, 0, 0))
    both = trimesh.util.concatenate([small, big])
    kw = dict(size=64, elevation_deg=0, color=(1, 0, 0))
    front = render_mesh(both, azimuth_deg=0, **kw)
    only_big = render_mesh(big, azimuth_deg=0, **kw)
    assert not np.array_equal(front[24:40, 24:40], only_big[24:40, 24:40])
    assert front[:, :, 1:].max() == 0  # colour is respected: no green or blue
    behind = render_mesh(both, azimuth_deg=180, **kw)  # the small box is hidden
    assert np.array_equal(behind, render_mesh(big, azimuth_deg=180, **kw))


def test_lit_faces_differ_so_shape_reads():
    img = render_mesh(_box([0.5, 0.5, 0.5]), size=64, azimuth_deg=45, elevation_deg=30)
    shades = {tuple(p) for p in img[img.max(axis=2) > 0].tolist()}
    assert len(shades) >= 3  # three visible faces, different brightness (plus edges)
    assert img.max() > 120


def test_rotating_the_object_equals_moving_the_camera():
    mesh = trimesh.util.concatenate([_box([0.5, 0.2, 0.3]), _box([0.1, 0.1, 0.4], (0.2, 0, 0.3))])
    turned = mesh.copy().apply_transform(trimesh.transformations.rotation_matrix(
        np.pi / 2, [0, 0, 1]))
    a = render_mesh(mesh, azimuth_deg=10.0).astype(int)
    b = render_mesh(turned, azimuth_deg=100.0).astype(int)
    assert np.abs(a - b).mean() < 0.5


def test_orthographic_and_views_are_deterministic():
    mesh = trimesh.creation.icosphere(2, radius=0.3)
    ortho = render_mesh(mesh, fov_deg=None, size=32)
    assert ortho.max() > 0
    first = render_views(mesh, n_views=4, size=32, seed=3)
    again = render_views(mesh, n_views=4, size=32, seed=3)
    assert len(first) == 4 and all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_view_azimuths_are_evenly_spaced_and_seeded():
    assert np.allclose(view_azimuths(4, seed=None), [0, 90, 180, 270])
    az = view_azimuths(6, seed=1, jitter_deg=5.0)
    gaps = np.diff(np.sort(az))
    assert np.all(np.abs(gaps[(gaps > 20)] - 60) <= 10)
    assert not np.allclose(az, view_azimuths(6, seed=2, jitter_deg=5.0))


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        render_mesh(_box([0.1, 0.1, 0.1]), size=0)
    with pytest.raises(ValueError, match="color"):
        render_mesh(_box([0.1, 0.1, 0.1]), color=(1, 0))
    with pytest.raises(ValueError, match="fov"):
        render_mesh(_box([0.1, 0.1, 0.1]), fov_deg=0.0)
