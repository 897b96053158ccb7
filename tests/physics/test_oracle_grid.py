"""Checking from an occupancy grid, the reduced collision hull and the kept worker pool."""

import pickle

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from dso.geometry import grid_to_mesh
from dso.physics import OracleConfig, check_many, check_mesh
from dso.physics.batch import CheckPool
from dso.physics.grid import Grid, surface
from dso.physics.model import collision_vertices


def _grids() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x = (np.arange(24) + 0.5) / 24 - 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    blobs = [((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 < 1
             for c, r in ((rng.uniform(-0.1, 0.1, 3), rng.uniform(0.2, 0.4, 3))
                          for _ in range(4))]
    noise = [rng.random((12, 12, 12)) < 0.35 for _ in range(4)]
    return blobs + noise


def upright() -> np.ndarray:
    occ = np.zeros((16, 16, 16), dtype=bool)
    occ[5:11, 5:11, 0:12] = True
    return occ


def leaning() -> np.ndarray:
    occ = np.zeros((16, 16, 16), dtype=bool)
    for z in range(12):
        occ[1 + z:4 + z, 6:10, z] = True
    return occ


def two_pieces() -> np.ndarray:
    occ = np.zeros((16, 16, 16), dtype=bool)
    occ[2:6, 5:11, 0:10] = True
    occ[9:13, 5:11, 0:10] = True  # three empty voxels apart: far beyond the 1% gap
    return occ


@pytest.mark.parametrize("index", range(8))
def test_surface_is_grid_to_mesh_and_candidates_hold_the_hull(index):
    occ = _grids()[index]
    vertices, faces, candidates = surface(occ)
    mesh = grid_to_mesh(occ)
    assert np.array_equal(vertices, mesh.vertices) and np.array_equal(faces, mesh.faces)
    hull = set(ConvexHull(vertices).vertices.tolist())
    assert hull <= set(np.flatnonzero(candidates).tolist())
    assert candidates.sum() < len(vertices)  # the filter does drop points


@pytest.mark.parametrize("make, stable, pieces", [(upright, True, 1), (leaning, False, 1),
                                                  (two_pieces, False, 2)])
def test_grid_verdict_equals_its_mesh(make, stable, pieces):
    occ = make()
    from_grid = check_mesh(Grid(occ, name="g"))
    from_mesh = check_mesh(grid_to_mesh(occ))
    assert from_grid.status == from_mesh.status == "ok"
    assert from_grid.path == "g"
    assert from_grid.stable is from_mesh.stable is stable
    assert from_grid.pieces == from_mesh.pieces == pieces
    assert from_grid.tilt_deg == pytest.approx(from_mesh.tilt_deg, abs=0.5)


def test_empty_or_non_bool_grids_are_error_results_not_exceptions():
    result = check_mesh(Grid(np.zeros((8, 8, 8), dtype=bool)))
    assert result.status == "error" and result.error_kind == "empty"
    result = check_mesh(Grid(upright().astype(np.float32)))
    assert result.status == "error" and result.error_kind == "unsupported"


def test_a_grid_the_oracle_refuses_is_refused_by_every_backend():
    # not bool, or not [R, R, R] (the unit cube would stretch it): the same error result in
    # this process and through worker processes, where the grid travels pickled
    bad = [Grid(upright().astype(np.uint8)), Grid(np.full((8, 8, 8), np.nan)),
           Grid(np.ones((4, 4, 32), dtype=bool))]
    for results in (check_many(bad, workers=1, progress=False),
                    check_many(bad, workers=2, progress=False)):
        assert [(r.status, r.error_kind) for r in results] == [("error", "unsupported")] * 3


def test_grid_travels_as_bits():
    grid = Grid(leaning(), name="x")
    data = pickle.dumps(grid)
    back = pickle.loads(data)
    assert np.array_equal(back.occupancy, grid.occupancy) and back.name == "x"
    assert len(data) < grid.occupancy.nbytes / 4


def test_collision_vertices_stay_within_tolerance_and_keep_the_ground():
    occ = _grids()[0]
    vertices, _, _ = surface(occ)
    vertices = vertices - vertices.min(axis=0)
    tol = 5e-3
    reduced = collision_vertices(vertices, tol)
    rows = {tuple(v) for v in vertices}
    assert all(tuple(v) in rows for v in reduced) and len(reduced) < len(vertices)
    planes = ConvexHull(reduced).equations
    assert (vertices @ planes[:, :3].T + planes[:, 3]).max() <= tol + 1e-12
    ground = vertices[vertices[:, 2] <= 2e-3]
    assert {tuple(v) for v in ground} <= {tuple(v) for v in reduced}
    assert len(collision_vertices(vertices, 0.0)) == len(vertices)


def test_the_default_hull_is_exact_and_the_reduced_one_agrees_on_clear_cases():
    assert OracleConfig.from_preset("accurate").hull_tol == 0.0  # verdicts of oracle 2.0
    reduced = OracleConfig.from_preset("accurate", hull_tol=5e-4)
    for make, stands in ((upright, True), (leaning, False)):
        mesh = grid_to_mesh(make())
        assert check_mesh(mesh, config=reduced).stable == check_mesh(mesh).stable == stands


def test_kept_pool_gives_the_same_results_across_calls():
    meshes = [grid_to_mesh(m()) for m in (upright, leaning, two_pieces)]
    alone = check_many(meshes, workers=1, progress=False)
    with CheckPool(2) as pool:
        first = check_many(meshes, pool=pool, progress=False)
        executor = pool.executor()
        second = check_many([Grid(m()) for m in (upright, leaning, two_pieces)], pool=pool,
                            progress=False)
        assert pool.executor() is executor  # the same processes served both calls
    for a, b, c in zip(alone, first, second, strict=True):
        assert a.stable == b.stable == c.stable and a.tilt_deg == b.tilt_deg


def test_hull_candidates_are_searched_only_for_the_reduced_hull():
    # the exact hull hands MuJoCo every vertex, so the lattice search is skipped; the reduced
    # hull gets the candidates, and both verdicts equal the mesh file's
    from dso.physics.grid import HULL_CANDIDATES_KEY
    from dso.physics.oracle import evaluate

    occ = leaning()
    exact = evaluate(Grid(occ), OracleConfig.from_preset("accurate"))
    reduced = evaluate(Grid(occ), OracleConfig.from_preset("accurate", hull_tol=5e-4))
    assert HULL_CANDIDATES_KEY not in exact.mesh.metadata
    candidates = reduced.mesh.metadata[HULL_CANDIDATES_KEY]
    assert candidates.dtype == bool and len(candidates) == len(reduced.mesh.vertices)
    assert 0 < candidates.sum() < len(candidates)
    from_mesh = check_mesh(grid_to_mesh(occ))
    assert exact.result.stable is reduced.result.stable is from_mesh.stable
