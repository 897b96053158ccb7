"""Pieces: an object is sound only if it is one piece (src/dso/physics/pieces.py).

Hand-built objects of each kind: floating parts are unstable for the reason "pieces", whatever
the glued hull would do; touching, stacked, intersecting and nested shells are one piece; debris
under 0.5% of the volume is dropped before the simulation and counted. The `dso` preset keeps
the release's whole-mesh, one-body verdict.
"""

import numpy as np
import pytest
import trimesh

from dso.geometry import grid_to_mesh
from dso.physics import check_mesh
from dso.physics.loading import Y_UP_TO_Z_UP
from dso.physics.pieces import find_pieces
from tests.physics.oracle_shapes import mesh_of

LEGS = [((x, y, 0.3), (0.08, 0.08, 0.6)) for x in (-0.4, 0.4) for y in (-0.25, 0.25)]


def table(gap: float) -> list:
    """Four legs and a top `gap` above them (object size ~1, so gap is a fraction of it)."""
    return LEGS + [((0.0, 0.0, 0.64 + gap), (1.0, 0.6, 0.08))]


def stool(gap: float) -> list:
    """Four legs and a seat `gap` above them."""
    legs = [((x, y, 0.25), (0.06, 0.06, 0.5)) for x in (-0.2, 0.2) for y in (-0.2, 0.2)]
    return legs + [((0.0, 0.0, 0.53 + gap), (0.5, 0.5, 0.06))]


BLOCK = ((0.0, 0.0, 0.25), (1.0, 1.0, 0.5))


def floater(volume_fraction: float) -> tuple:
    """A cube of `volume_fraction` of BLOCK's volume, floating 0.1 above it."""
    side = (0.5 * volume_fraction) ** (1.0 / 3.0)
    return ((0.0, 0.0, 0.6 + side / 2), (side, side, side))


UNSOUND = {
    "floating table top (2% gap)": table(0.02),
    "loose stool seat": stool(0.03),
    "beam floating beside a column": [((0.0, 0.0, 0.5), (0.2, 0.2, 1.0)),
                                      ((0.35, 0.0, 0.9), (0.4, 0.1, 0.1))],
    "block with a 10% floater": [BLOCK, floater(0.10)],
}
SOUND = {
    "attached table top": table(0.0),
    "stool with its seat on": stool(0.0),
    "table top 0.3% above its legs": table(0.003),
    "box resting on a box": [BLOCK, ((0.1, 0.0, 0.75), (0.5, 0.5, 0.5))],
    "crossed bars, stacked": [((0.0, 0.0, 0.1), (1.0, 0.2, 0.2)),
                              ((0.0, 0.0, 0.3), (0.2, 1.0, 0.2))],
}


@pytest.mark.parametrize("name", sorted(UNSOUND))
def test_floating_parts_are_unstable_for_the_reason_pieces(name):
    result = check_mesh(mesh_of(UNSOUND[name]))
    assert result.status == "ok", result.error
    assert result.pieces >= 2 and result.stable is False and result.reason == "pieces"
    glued = check_mesh(mesh_of(UNSOUND[name]), preset="dso")  # the release: one glued body
    assert glued.pieces is None and glued.stable is True


@pytest.mark.parametrize("name", sorted(SOUND))
def test_touching_and_stacked_shells_are_one_piece(name):
    result = check_mesh(mesh_of(SOUND[name]))
    assert result.status == "ok", result.error
    assert result.pieces == 1 and result.debris_pieces == 0
    assert result.stable is True and result.reason is None


def test_intersecting_and_nested_shells_are_one_piece():
    a = trimesh.creation.box((0.6, 0.6, 0.6))
    b = trimesh.creation.box((0.6, 0.6, 0.6))
    b.apply_translation([0.3, 0.2, 0.1])
    inner = trimesh.creation.icosphere(2, radius=0.1)  # a solid inside a solid
    cavity = trimesh.creation.icosphere(2, radius=0.1)
    cavity.invert()  # a hollow: inward-facing shell
    for parts in ([a, b], [a, inner], [a, cavity]):
        mesh = trimesh.util.concatenate(parts)
        assert len(mesh.split(only_watertight=False)) == len(parts)  # separate shells
        assert find_pieces(mesh).count == 1


def _inverted(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    flipped = mesh.copy()
    flipped.invert()
    return flipped


@pytest.mark.parametrize("parts", [
    [BLOCK, ((0.9, 0.0, 0.25), (0.5, 0.5, 0.5))],  # two blocks side by side
    [BLOCK, floater(0.10)],  # a floater above
    [((0.0, 0.0, 0.2), (0.4, 0.4, 0.4)), ((0.7, 0.0, 0.3), (0.6, 0.6, 0.6))],  # larger one
], ids=["side by side", "floater", "the larger one"])
def test_a_separate_piece_wound_inside_out_is_still_a_piece(parts):
    # A shell with inward-facing normals (common in scans and edited files) is a solid: it
    # once counted as a negative volume and was dropped as debris, so the object "stood".
    second = _inverted(mesh_of(parts[1:]))
    mesh = trimesh.util.concatenate([mesh_of(parts[:1]), second])
    found, as_wound = find_pieces(mesh), find_pieces(mesh_of(parts))
    assert found.count == as_wound.count == 2 and found.debris == 0
    result = check_mesh(mesh)
    assert result.pieces == 2 and result.stable is False and result.reason == "pieces"


def test_touching_shells_wound_either_way_give_the_same_mass():
    from dso.physics.loading import prepare
    from dso.physics.mass import from_integrals

    parts = [BLOCK, ((0.3, 0.0, 0.75), (0.5, 0.5, 0.5))]  # a box resting on a box
    mixed = trimesh.util.concatenate([mesh_of(parts[:1]), _inverted(mesh_of(parts[1:]))])
    props = []
    for mesh in (mesh_of(parts), mixed, _inverted(mesh_of(parts))):
        found = find_pieces(prepare(mesh)[0])
        assert found.count == 1
        props.append(from_integrals(found.integrals, found.origin, 1.0, 1000.0, "mesh"))
    for other in props[1:]:
        assert other.mass == pytest.approx(props[0].mass, rel=1e-12)
        assert np.allclose(other.com, props[0].com, atol=1e-12)
        assert np.allclose(other.inertia, props[0].inertia, rtol=1e-10, atol=1e-12)


def test_gap_tolerance_joins_under_one_percent_and_separates_at_two():
    assert find_pieces(mesh_of(table(0.005))).count == 1
    assert find_pieces(mesh_of(table(0.0099))).count == 1
    assert find_pieces(mesh_of(table(0.011))).count == 5  # four loose legs and the top
    assert find_pieces(mesh_of(table(0.02))).count == 5


def test_debris_is_dropped_counted_and_never_the_verdict():
    result = check_mesh(mesh_of([BLOCK, floater(0.001)]))
    assert result.stable is True and result.pieces == 1 and result.debris_pieces == 1
    assert result.debris_fraction == pytest.approx(0.001, rel=0.05)


def test_debris_is_dropped_before_the_simulation():
    # A column leaning past its foot falls. A speck of debris far out on the ground would widen
    # the glued hull's support polygon and prop it up, as it does for the release's oracle.
    lean = trimesh.transformations.rotation_matrix(np.radians(25.0), [0, 1, 0])
    column = trimesh.creation.box((0.15, 0.15, 1.0))
    column.apply_transform(lean)
    column.apply_translation(-column.bounds[0])  # lowest corner at the origin
    speck = trimesh.creation.box((0.02, 0.02, 0.02))
    speck.apply_translation([0.6, 0.0, 0.01])
    mesh = trimesh.util.concatenate([column, speck])
    alone, with_speck = check_mesh(column), check_mesh(mesh)
    glued = check_mesh(mesh, preset="dso")
    assert alone.stable is False and glued.stable is True
    assert with_speck.debris_pieces == 1 and with_speck.pieces == 1
    assert with_speck.stable is False and with_speck.reason == "tilt"


def test_y_up_input_and_gltf_scenes_see_the_same_pieces(tmp_path):
    floating, attached = mesh_of(table(0.03)), mesh_of(table(0.0))
    for mesh, count in ((floating, 5), (attached, 1)):
        y_up = mesh.copy()
        y_up.vertices = y_up.vertices @ Y_UP_TO_Z_UP  # the inverse rotation: z-up -> y-up
        assert check_mesh(y_up, up="y").pieces == count
    scene = trimesh.Scene()
    to_y_up = np.eye(4)
    to_y_up[:3, :3] = Y_UP_TO_Z_UP.T  # glTF is y-up, and a .glb is read so by default
    for i, (centre, size) in enumerate(table(0.03)):
        scene.add_geometry(trimesh.creation.box(size), node_name=f"part{i}",
                           transform=to_y_up @ trimesh.transformations.translation_matrix(centre))
    path = tmp_path / "table.glb"
    scene.export(path)
    result = check_mesh(path)
    assert result.pieces == 5 and result.stable is False and result.reason == "pieces"


def test_generated_grids_with_and_without_a_one_voxel_gap():
    grid = np.zeros((32, 32, 32), dtype=bool)
    for x in (8, 22):
        for y in (8, 22):
            grid[x:x + 2, y:y + 2, 0:14] = True  # legs
    with_gap = grid.copy()
    with_gap[6:26, 6:26, 15:18] = True  # seat one empty voxel above the legs
    without = grid.copy()
    without[6:26, 6:26, 14:17] = True
    loose, joined = check_mesh(grid_to_mesh(with_gap)), check_mesh(grid_to_mesh(without))
    assert loose.pieces == 5 and loose.stable is False and loose.reason == "pieces"
    assert joined.pieces == 1 and joined.stable is True


def test_shortcuts_agree_with_the_exact_distance():
    # spheres and boxes at random offsets: the shortcuts (vertex distances with an edge-length
    # slack; for closed shells, the distance between the faces near each other) must give the
    # same answer as manifold3d's exact gap for every pair
    import dso.physics.pieces as pieces

    rng = np.random.default_rng(0)
    box = trimesh.creation.box((0.3, 0.2, 0.4))
    box = trimesh.Trimesh(*trimesh.remesh.subdivide(box.vertices, box.faces))
    shapes = [trimesh.creation.icosphere(2, radius=0.2), box]
    decided, exact_calls = set(), {False: 0, True: 0}
    solid = pieces._Shell.solid

    def counted(self):
        exact_calls[self.closed] += 1
        return solid(self)

    for trial in range(80):
        a, b = shapes[trial % 2].copy(), shapes[(trial // 2) % 2].copy()
        direction = rng.normal(size=3)
        b.apply_translation(direction / np.linalg.norm(direction) * rng.uniform(0.3, 0.45))

        def shell(m, closed):
            v = np.asarray(m.vertices)
            return pieces._Shell(v, np.asarray(m.faces), v.min(axis=0), v.max(axis=0),
                                 float(m.edges_unique_length.max()), flip=False, closed=closed)

        exact = shell(a, True).solid().min_gap(shell(b, True).solid(), 0.02) < 0.01
        pieces._Shell.solid = counted
        try:
            for closed in (False, True):
                assert pieces._touch(shell(a, closed), shell(b, closed), 0.01) == exact
        finally:
            pieces._Shell.solid = solid
        decided.add(exact)
    assert decided == {True, False}  # both outcomes were exercised
    # closed shells with boxes apart never need manifold3d; open ones do for the close calls
    assert exact_calls[True] == 0 and exact_calls[False] > 0, exact_calls


@pytest.mark.parametrize("gap_between", [0.005, 0.02])
def test_crossed_ridges_are_judged_by_their_surfaces(gap_between):
    # two coarse boxes turned 45 degrees about x and y: their ridges cross at gap_between
    # while every vertex is far from the other surface, so only the exact distance can tell
    import dso.physics.pieces as pieces

    def ridge(axis, z, flip):
        m = trimesh.creation.box((0.3, 0.3, 0.3))
        turn = trimesh.transformations.rotation_matrix(np.pi / 4, axis)
        m.apply_transform(turn)
        m.apply_translation([0.0, 0.0, z - (m.bounds[0, 2] if flip else m.bounds[1, 2])])
        v = np.asarray(m.vertices)
        return pieces._Shell(v, np.asarray(m.faces), v.min(axis=0), v.max(axis=0),
                             float(m.edges_unique_length.max()), flip=False, closed=True)

    low, high = ridge([1, 0, 0], 0.0, False), ridge([0, 1, 0], gap_between, True)
    assert pieces._touch(low, high, 0.01) == (gap_between < 0.01)


def _l_shape() -> trimesh.Trimesh:
    """An L of two boxes (one closed shell) whose notch is inside its bounding box."""
    from manifold3d import Manifold

    mesh = (Manifold.cube([0.2, 0.2, 0.6]) + Manifold.cube([0.6, 0.2, 0.2])).to_mesh()
    return trimesh.Trimesh(mesh.vert_properties[:, :3], mesh.tri_verts)


@pytest.mark.parametrize(("case", "joined"), [
    ("ball in the notch 0.005 off", True), ("ball in the notch 0.03 off", False),
    ("ball inside the solid", True), ("hollow ball", True), ("ball holding the L", True)])
def test_nested_boxes_are_judged_without_solids(case, joined):
    # shells whose boxes nest: joined when their surfaces come within the gap or one solid
    # holds the other (a winding number); manifold3d's solids are never built for closed ones
    import dso.physics.pieces as pieces

    ball = trimesh.creation.icosphere(3, radius=0.07)
    l_shape = _l_shape()
    if case.startswith("ball in the notch"):
        off = float(case.split()[4])  # from the two inner faces of the notch, at x = z = 0.2
        outer, inner = l_shape, ball.copy()
        inner.apply_translation([0.2 + 0.07 + off, 0.1, 0.2 + 0.07 + off])
    elif case == "ball inside the solid":
        outer, inner = trimesh.creation.box((0.6, 0.6, 0.6)), ball
    elif case == "hollow ball":
        outer = trimesh.creation.icosphere(3, radius=0.3)
        inner = trimesh.Trimesh(ball.vertices * 3.5, ball.faces[:, ::-1])  # the cavity
    else:
        outer, inner = trimesh.creation.icosphere(3, radius=1.0), l_shape

    def shell(m):
        v = np.asarray(m.vertices)
        return pieces._Shell(v, np.asarray(m.faces), v.min(axis=0), v.max(axis=0),
                             float(m.edges_unique_length.max()), flip=False, closed=True)

    a, b = shell(outer), shell(inner)
    assert np.all(a.lo <= b.lo) and np.all(b.hi <= a.hi)  # nested boxes
    built = []
    solid = pieces._Shell.solid
    pieces._Shell.solid = lambda self: built.append(1) or solid(self)
    try:
        assert pieces._touch(a, b, 0.01) is joined
        assert pieces._touch(b, a, 0.01) is joined
    finally:
        pieces._Shell.solid = solid
    assert not built
    reference = shell(outer).solid().min_gap(shell(inner).solid(), 0.02) < 0.01
    assert reference is joined  # what manifold3d's solids say


def test_a_flat_sheet_near_the_object_is_debris_not_an_error():
    block = trimesh.creation.box((0.6, 0.6, 0.4))
    block.apply_translation([0.0, 0.0, 0.2])
    # one triangle 0.5% off the block's side, mid-face (far from its corner vertices): the
    # exact distance is asked for, and a flat shell has no solid to measure
    sheet = trimesh.Trimesh([[0.305, -0.1, 0.1], [0.305, 0.1, 0.1], [0.305, 0.0, 0.3]],
                            [[0, 1, 2]])
    result = check_mesh(trimesh.util.concatenate([block, sheet]))
    assert result.status == "ok", result.error
    assert result.pieces == 1 and result.debris_pieces == 1 and result.stable is True


@pytest.mark.parametrize("parts", [[BLOCK, floater(0.001)], table(0.02)],
                         ids=["debris dropped", "two pieces kept"])
def test_pieces_pass_mass_equals_integrating_the_kept_mesh(parts):
    from dso.physics.config import OracleConfig
    from dso.physics.loading import prepare
    from dso.physics.mass import mass_properties
    from dso.physics.oracle import _drop_debris
    from dso.physics.result import CheckResult

    mesh, _ = prepare(mesh_of(parts))
    kept, props = _drop_debris(mesh, OracleConfig(), CheckResult())
    direct = mass_properties(kept)
    assert props is not None and props.source == direct.source == "mesh"
    assert props.mass == pytest.approx(direct.mass, rel=1e-12)
    assert np.allclose(props.com, direct.com, atol=1e-12)
    assert np.allclose(props.inertia, direct.inertia, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("parts", "near"), [([BLOCK, floater(0.001)], False),
                                             ([BLOCK, floater(0.10)], False),
                                             (table(0.02), False), (table(0.003), True)],
                         ids=["far debris", "far floater", "top 2% above", "top 0.3% above"])
def test_pieces_found_from_the_boxes_alone_equal_the_full_split(parts, near):
    # closed=True: shells whose boxes are farther apart than the gap are never split (nor
    # tested); closed=None checks each shell's closedness, so every shell is split
    from dso.physics.loading import prepare
    from dso.physics.pieces import _box_pairs, _shell_boxes
    from dso.physics.shells import shell_labels

    mesh, _ = prepare(mesh_of(parts))
    n, _, vertex_label = shell_labels(np.asarray(mesh.faces), len(mesh.vertices))
    boxes = _shell_boxes(np.asarray(mesh.vertices), vertex_label, n)
    assert (len(_box_pairs(boxes[3], boxes[4], 0.01)) > 0) == near
    fast, full = find_pieces(mesh, closed=True), find_pieces(mesh, closed=None)
    assert (fast.count, fast.debris, fast.debris_fraction) == (
        full.count, full.debris, full.debris_fraction)
    assert (fast.keep is None) == (full.keep is None)
    assert fast.keep is None or np.array_equal(fast.keep, full.keep)
    assert np.array_equal(fast.integrals, full.integrals)


def test_a_multi_piece_verdict_reads_pieces_in_the_table_and_the_picture():
    from dso.physics.oracle import evaluate, resolve_config
    from dso.physics.render import _caption
    from dso.physics.summary import result_rows

    evaluation = evaluate(mesh_of(table(0.02)), resolve_config(), path="table.obj")
    assert evaluation.result.verdict == "PIECES"
    assert "PIECES" in result_rows([evaluation.result])[2]
    assert _caption(evaluation) == "table.obj: PIECES, tilt 0.0 deg, 5 pieces"
    whole = evaluate(mesh_of(table(0.0)), resolve_config(), path="t.obj")
    assert whole.result.verdict == "stable" and "stable" in _caption(whole)
