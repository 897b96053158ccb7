"""Closed primitives placed by their end points, and a robust union of them.

Parts are plain `(vertices, faces)` arrays built from cached unit templates (pure numpy, a few
microseconds each); `union` fuses them with manifold3d into one closed `trimesh.Trimesh` with
outward normals. Units are free: families build objects about one unit tall and
`normalize_mesh` rescales afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import trimesh

Vec = Sequence[float] | np.ndarray
SECTIONS = 20  # around round parts: enough to read at 64-128 px, few faces to rasterise


class Part(NamedTuple):
    """A closed, outward-facing triangle mesh as raw arrays."""

    vertices: np.ndarray  # [N, 3] float64
    faces: np.ndarray  # [M, 3] int


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    tri = vertices[faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def _outward(vertices: np.ndarray, faces: np.ndarray) -> Part:
    if _signed_volume(vertices, faces) < 0:
        faces = faces[:, ::-1]
    return Part(vertices, np.ascontiguousarray(faces))


def _align_z(direction: np.ndarray) -> np.ndarray:
    """3x3 rotation taking +z to the unit vector `direction`."""
    return trimesh.geometry.align_vectors([0.0, 0.0, 1.0], direction)[:3, :3]


def _segment(p0: Vec, p1: Vec) -> tuple[np.ndarray, np.ndarray, float]:
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    if length < 1e-9:
        raise ValueError("a part's end points coincide")
    return p0, p1, length


@lru_cache(maxsize=16)
def _template(kind: str, detail: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "box":
        mesh = trimesh.creation.box(extents=[1.0, 1.0, 1.0])
    elif kind == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=detail, radius=1.0)
    elif kind == "cylinder":
        mesh = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=detail)
    else:  # capsule: two unit hemispheres at z = +-0.5 joined by a unit-length cylinder
        mesh = trimesh.creation.capsule(height=1.0, radius=1.0, count=[detail, detail])
    part = _outward(np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64))
    part.vertices.setflags(write=False)
    return part.vertices, part.faces


def _place(kind: str, detail: int, scale: Vec, rotation: np.ndarray, at: Vec) -> Part:
    verts, faces = _template(kind, detail)
    return Part(verts * np.asarray(scale, float) @ rotation.T + np.asarray(at, float), faces)


def box(size: Vec, at: Vec = (0.0, 0.0, 0.0), yaw_deg: float = 0.0,
        pitch_deg: float = 0.0) -> Part:
    """A box of `size` centred at `at`, pitched by `pitch_deg` about y then turned about z."""
    pitch = trimesh.transformations.rotation_matrix(np.radians(pitch_deg), [0, 1, 0])[:3, :3]
    yaw = trimesh.transformations.rotation_matrix(np.radians(yaw_deg), [0, 0, 1])[:3, :3]
    return _place("box", 0, size, yaw @ pitch, at)


def slab(p0: Vec, p1: Vec, width: float, thickness: float) -> Part:
    """A box along the segment `p0`-`p1`: `width` across (x before aligning), `thickness` (y)."""
    p0, p1, length = _segment(p0, p1)
    return _place("box", 0, [width, thickness, length], _align_z((p1 - p0) / length),
                  (p0 + p1) / 2.0)


def rod(p0: Vec, p1: Vec, radius: float, sections: int = SECTIONS) -> Part:
    """A cylinder with flat ends from `p0` to `p1`."""
    p0, p1, length = _segment(p0, p1)
    return _place("cylinder", sections, [radius, radius, length],
                  _align_z((p1 - p0) / length), (p0 + p1) / 2.0)


def capsule(p0: Vec, p1: Vec, radius: float, count: int = 12) -> Part:
    """A cylinder with hemispherical ends from `p0` to `p1` (equal points give a sphere)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    length = float(np.linalg.norm(p1 - p0))
    if length < 1e-9:
        return sphere(p0, radius)
    verts, faces = _template("capsule", count)
    z = np.sign(verts[:, 2]) * (length / 2.0 + (np.abs(verts[:, 2]) - 0.5) * radius)
    local = np.column_stack([verts[:, :2] * radius, z])
    return Part(local @ _align_z((p1 - p0) / length).T + (p0 + p1) / 2.0, faces)


def sphere(at: Vec, radius: float, scale: Vec = (1.0, 1.0, 1.0), subdivisions: int = 2) -> Part:
    """A sphere (an ellipsoid with per-axis `scale`) centred at `at`."""
    return _place("sphere", subdivisions, np.asarray(scale, float) * radius, np.eye(3), at)


def lathe(radii: Vec, heights: Vec, at: Vec = (0.0, 0.0, 0.0),
          sections: int = SECTIONS) -> Part:
    """A solid of revolution about the z axis through `at`, closed by flat caps.

    The profile has radius `radii[i]` at height `heights[i]` (strictly increasing heights).
    """
    r, h = np.asarray(radii, float), np.asarray(heights, float)
    if len(r) != len(h) or len(r) < 2 or np.any(np.diff(h) <= 0) or np.any(r <= 0):
        raise ValueError("lathe needs >= 2 positive radii at strictly increasing heights")
    n, s = len(r), sections
    angle = np.arange(s) * 2.0 * np.pi / s
    rings = np.stack([np.outer(r, np.cos(angle)), np.outer(r, np.sin(angle)),
                      np.repeat(h[:, None], s, axis=1)], axis=-1).reshape(-1, 3)
    verts = np.vstack([rings, [[0.0, 0.0, h[0]], [0.0, 0.0, h[-1]]]])
    i, j = np.meshgrid(np.arange(n - 1), np.arange(s), indexing="ij")
    a, b = i * s + j, i * s + (j + 1) % s
    c, d = a + s, b + s
    side = np.concatenate([np.stack([a, b, d], -1), np.stack([a, d, c], -1)]).reshape(-1, 3)
    ring0, ring1 = np.arange(s), (n - 1) * s + np.arange(s)
    bottom = np.column_stack([np.full(s, n * s), (ring0 + 1) % s, ring0])
    top = np.column_stack([np.full(s, n * s + 1), ring1, (n - 1) * s + (ring0 + 1) % s])
    part = _outward(verts, np.vstack([side, bottom, top]))
    return Part(part.vertices + np.asarray(at, float), part.faces)


def frustum(p0: Vec, p1: Vec, r0: float, r1: float, sections: int = SECTIONS) -> Part:
    """A truncated cone from `p0` (radius `r0`) to `p1` (radius `r1`)."""
    p0, p1, length = _segment(p0, p1)
    verts, faces = lathe([r0, r1], [0.0, length], sections=sections)
    return Part(verts @ _align_z((p1 - p0) / length).T + p0, faces)


def torus(at: Vec, major: float, minor: float, axis: Vec = (0.0, 0.0, 1.0),
          sections: int = 24, tube_sections: int = 10) -> Part:
    """A ring (wheel, handle) of radius `major` and tube radius `minor` around `axis`."""
    u = np.arange(sections) * 2.0 * np.pi / sections
    v = np.arange(tube_sections) * 2.0 * np.pi / tube_sections
    uu, vv = np.meshgrid(u, v, indexing="ij")
    rr = major + minor * np.cos(vv)
    verts = np.stack([rr * np.cos(uu), rr * np.sin(uu), minor * np.sin(vv)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(sections), np.arange(tube_sections), indexing="ij")
    a = i * tube_sections + j
    b = ((i + 1) % sections) * tube_sections + j
    c = i * tube_sections + (j + 1) % tube_sections
    d = ((i + 1) % sections) * tube_sections + (j + 1) % tube_sections
    faces = np.concatenate([np.stack([a, b, d], -1), np.stack([a, d, c], -1)]).reshape(-1, 3)
    direction = np.asarray(axis, float)
    part = _outward(verts, faces)
    return Part(part.vertices @ _align_z(direction / np.linalg.norm(direction)).T
                + np.asarray(at, float), part.faces)


def union(parts: Sequence[Part], floor: float | None = None) -> trimesh.Trimesh:
    """The solid union of closed parts (manifold3d): one closed mesh with outward normals.

    With `floor`, everything below the plane z = `floor` is cut away, so parts sunk into the
    ground (a leaning stem, a tyre) meet it in a flat contact patch.
    """
    import manifold3d

    solids = []
    for verts, faces in parts:
        mesh = manifold3d.Mesh(vert_properties=np.asarray(verts, np.float32),
                               tri_verts=np.asarray(faces, np.uint32))
        solid = manifold3d.Manifold(mesh)
        if solid.status() != manifold3d.Error.NoError:
            raise ValueError(f"a part is not a closed manifold ({solid.status()})")
        solids.append(solid)
    if not solids:
        raise ValueError("union of no parts")
    merged = manifold3d.Manifold.batch_boolean(solids, manifold3d.OpType.Add)
    if floor is not None:
        merged = merged.trim_by_plane([0.0, 0.0, 1.0], float(floor))
    out = merged.to_mesh()
    result = trimesh.Trimesh(np.asarray(out.vert_properties[:, :3], np.float64),
                             np.asarray(out.tri_verts, np.int64), process=False)
    if len(result.faces) == 0:
        raise ValueError("the union of the parts is empty")
    return result
