"""Occupancy grids <-> meshes, and the unit-cube normalisation every room shares.

Grids are `bool [R, R, R]` indexed `[x, y, z]`; voxel `i` has its centre at
`(i + 0.5) / R - 0.5` in the unit cube `[-0.5, 0.5]^3` (docs/formats.md §Grids). z is up.
"""

from dso.geometry.grid import (
    grid_to_mesh,
    mesh_to_grid,
    pack_occupancy,
    unpack_occupancy,
    voxel_centers,
)
from dso.geometry.normalize import normalize_mesh

__all__ = ["grid_to_mesh", "mesh_to_grid", "normalize_mesh", "pack_occupancy", "unpack_occupancy",
           "voxel_centers"]
