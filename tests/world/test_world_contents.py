"""What a built world holds: splits, closed meshes, consistent grids, stable ground truth."""

import json

import numpy as np

from dso.geometry import grid_to_mesh, mesh_to_grid
from dso.physics import check_mesh
from dso.world import TRAIN_FAMILIES, WILD_FAMILIES, World, build_world


def test_splits_counts_and_views(tiny_world):
    assert len(tiny_world.objects(split="train")) == 10
    assert len(tiny_world.objects(split="eval")) == 3
    assert len(tiny_world.objects(split="synthetic")) == 2
    assert len(tiny_world.objects(split="wild")) == 2 * len(WILD_FAMILIES)
    assert {o.family for o in tiny_world.objects(split="train")} == set(TRAIN_FAMILIES)
    views = {s: {len(o.views) for o in tiny_world.objects(split=s)}
             for s in ("train", "eval", "synthetic", "wild")}
    assert views == {"train": {6}, "eval": {12}, "synthetic": {6}, "wild": {1}}
    assert not tiny_world.failed


def test_held_out_families_appear_only_in_the_wild_split(tiny_world):
    for obj in tiny_world:
        assert (obj.family in WILD_FAMILIES) == (obj.split == "wild"), obj.id
    ids = [o.id for o in tiny_world]
    assert len(ids) == len(set(ids))


def test_every_mesh_is_closed_with_positive_volume_standing_in_the_unit_cube(tiny_world):
    for obj in tiny_world:
        mesh = obj.mesh()
        assert mesh.is_watertight and mesh.is_winding_consistent, obj.id
        assert mesh.volume > 0, obj.id
        lo, hi = mesh.bounds
        assert (lo >= -0.5).all() and (hi <= 0.5).all(), obj.id
        assert abs(lo[2] - (-0.5 + 0.006)) < 1e-6, obj.id  # resting on its lowest point
        assert np.isclose(obj.record["volume"], mesh.volume, rtol=1e-4)


def test_grid_matches_mesh(tiny_world):
    res = tiny_world.meta["resolution"]
    for obj in tiny_world:
        mesh, occ = obj.mesh(), obj.grid()
        assert occ.dtype == bool and occ.shape == (res,) * 3
        assert (occ == mesh_to_grid(mesh, res, supersample=2)).all(), obj.id
        centres = mesh_to_grid(mesh, res)
        assert occ[centres].all()  # conservative: every voxel whose centre is inside is kept
        assert centres.sum() / occ.sum() > 0.3, obj.id
        assert occ[:, :, 0].any(), obj.id  # the feet reach the bottom layer
        voxel_volume = grid_to_mesh(occ).volume
        # fattened by the supersampling, less the corners marching cubes cuts off a boxy part
        assert 0.9 * mesh.volume < voxel_volume < 4.0 * mesh.volume, obj.id


def test_ground_truth_is_stable_according_to_the_oracle(tiny_world):
    for obj in tiny_world:
        result = check_mesh(obj.mesh())
        assert result.status == "ok" and result.stable, obj.id
        assert result.tilt_deg < 2.0, obj.id
        assert obj.tilt_deg is not None and obj.tilt_deg < 2.0
        voxels = check_mesh(grid_to_mesh(obj.grid()))  # what a generator could reproduce
        assert voxels.status == "ok" and voxels.stable and voxels.tilt_deg < 2.0, obj.id


def test_images_are_non_empty_and_centred(tiny_world):
    size = tiny_world.meta["image_size"]
    for obj in tiny_world.objects(split="eval") + tiny_world.objects(split="wild"):
        for image in obj.images():
            assert image.shape == (size, size, 3) and image.dtype == np.uint8
            mask = image.max(axis=2) > 10
            assert mask.mean() > 0.01, obj.id
            ys, xs = np.nonzero(mask)
            assert abs(xs.mean() - size / 2) < size * 0.15, obj.id
            assert abs(ys.mean() - size / 2) < size * 0.25, obj.id
            assert image[[0, -1]].max() == 0 and image[:, [0, -1]].max() == 0, obj.id


def test_index_and_world_json_follow_the_documented_layout(tiny_world):
    root = tiny_world.root
    lines = (root / "index.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    for key in ("id", "family", "split", "seed", "params", "mesh", "grid", "views",
                "tilt_deg", "margin", "rejected"):
        assert key in record
    assert (root / record["mesh"]).exists() and (root / record["grid"]).exists()
    assert all((root / v).exists() for v in record["views"])
    meta = json.loads((root / "world.json").read_text())
    for key in ("seed", "n", "resolution", "image_size", "families", "counts", "rejected",
                "rejected_fraction", "dso_version", "complete"):
        assert key in meta
    assert meta["n"] == len(tiny_world) and meta["complete"]
    again = World.open(root)
    assert [o.id for o in again] == [o.id for o in tiny_world]
    assert again.get(record["id"]).family == record["family"]


def test_spread_interleaves_families_so_a_limit_covers_them(tiny_world):
    objects = tiny_world.objects("train")
    spread = tiny_world.spread("train")
    assert sorted(o.id for o in spread) == sorted(o.id for o in objects)
    families = {o.family for o in objects}
    first = spread[:len(families)]
    assert {o.family for o in first} == families  # one of each before any second one
    for family in families:  # id order kept within a family
        ids = [o.id for o in spread if o.family == family]
        assert ids == sorted(ids)


def test_a_split_fingerprint_tells_worlds_apart_and_ignores_other_splits(tiny_world, tmp_path):
    def small(root, seed, n_train):
        return build_world(root, n_train=n_train, n_eval=1, n_synthetic=0, n_val=0,
                           wild_per_family=0, families=TRAIN_FAMILIES[:2], seed=seed,
                           workers=1, progress=False)

    again = World.open(tiny_world.root)
    assert again.fingerprint("eval") == tiny_world.fingerprint("eval")
    assert tiny_world.fingerprint("eval") != tiny_world.fingerprint("wild")
    first, other = small(tmp_path / "a", 0, 0), small(tmp_path / "b", 1, 0)
    assert [o.id for o in first.objects("eval")] == [o.id for o in other.objects("eval")]
    assert first.fingerprint("eval") != other.fingerprint("eval")  # same ids, other objects
    grown = small(tmp_path / "c", 0, 2)  # more training objects, the same eval ones
    assert grown.fingerprint("eval") == first.fingerprint("eval")
