"""Determinism from the seed, resuming after a crash, growing a world, parallel workers."""

import json

import numpy as np
import pytest

from dso.world import World, build_world

SMALL = dict(n_eval=1, n_synthetic=1, n_val=1, wild_per_family=1, progress=False)


def _files(world: World) -> dict:
    out = {}
    for obj in world:
        out[obj.id] = (obj.seed, obj.params, (world.root / obj.mesh_path).read_bytes(),
                       obj.grid().tobytes(), [(world.root / v).read_bytes() for v in obj.views])
    return out


def test_same_seed_gives_identical_worlds_in_and_out_of_worker_processes(tmp_path):
    a = build_world(tmp_path / "a", n_train=4, seed=3, workers=1, **SMALL)
    b = build_world(tmp_path / "b", n_train=4, seed=3, workers=2, **SMALL)
    assert _files(a) == _files(b)
    c = build_world(tmp_path / "c", n_train=4, seed=4, workers=1, **SMALL)
    assert [o.seed for o in c] != [o.seed for o in a]


def test_a_torn_index_line_is_rebuilt_and_nothing_done_is_lost(tmp_path):
    root = tmp_path / "w"
    first = build_world(root, n_train=3, seed=1, workers=1, **SMALL)
    index = root / "index.jsonl"
    lines = index.read_text().splitlines()
    kept = {json.loads(x)["id"] for x in lines[:-1]}
    mtimes = {o.id: (root / o.mesh_path).stat().st_mtime_ns for o in first if o.id in kept}
    index.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    again = build_world(root, n_train=3, seed=1, workers=1, **SMALL)
    assert [o.id for o in again] == [o.id for o in first]
    assert _files(again) == _files(first)
    for object_id, mtime in mtimes.items():  # finished objects were not redone
        assert (root / again.get(object_id).mesh_path).stat().st_mtime_ns == mtime
    assert all(json.loads(x) for x in index.read_text().splitlines())


def test_a_larger_count_only_adds_objects(tmp_path):
    root = tmp_path / "w"
    small = build_world(root, n_train=2, seed=2, workers=1, **SMALL)
    big = build_world(root, n_train=5, seed=2, workers=1, **SMALL)
    assert {o.id for o in small} < {o.id for o in big}
    assert len(big.objects(split="train")) == 5
    assert big.meta["requested"]["n_train"] == 5


def test_a_folder_holding_another_world_is_refused(tmp_path):
    root = tmp_path / "w"
    build_world(root, n_train=1, seed=0, workers=1, **SMALL)
    with pytest.raises(ValueError, match="seed"):
        build_world(root, n_train=1, seed=1, workers=1, **SMALL)
    with pytest.raises(ValueError, match="resolution"):
        build_world(root, n_train=1, seed=0, resolution=16, workers=1, **SMALL)


def test_family_selection_and_bad_settings(tmp_path):
    world = build_world(tmp_path / "w", n_train=2, families=["table", "bird"], workers=1,
                        **SMALL)
    assert {o.family for o in world.objects(split="train")} == {"table"}
    assert {o.family for o in world.objects(split="wild")} == {"bird"}
    with pytest.raises(ValueError, match="unknown family"):
        build_world(tmp_path / "x", n_train=1, families=["teapot"], **SMALL)
    with pytest.raises(ValueError, match="n_train"):
        build_world(tmp_path / "y", n_train=-1, **SMALL)
    with pytest.raises(FileNotFoundError):
        World.open(tmp_path / "nothing")


def test_grids_load_as_bool(tmp_path):
    world = build_world(tmp_path / "w", n_train=1, workers=1, **SMALL)
    obj = world.objects(split="train")[0]
    with np.load(world.root / obj.grid_path) as data:
        assert data["occ"].dtype == bool


TINY = dict(n_train=2, n_eval=0, n_synthetic=0, n_val=0, wild_per_family=0,
            families=["bottle"], workers=1, progress=False)


def test_a_second_build_into_a_folder_being_built_is_refused(tmp_path):
    from dso.data.files import exclusive_lock
    from dso.world.build import LOCK_NAME

    root = tmp_path / "w"
    root.mkdir()
    with exclusive_lock(root / LOCK_NAME, RuntimeError("held")), \
            pytest.raises(ValueError, match="being built by another process"):
        build_world(root, **TINY)
    assert len(build_world(root, **TINY)) == 2  # once the other build is over


def test_a_stopped_build_says_so_and_objects_recorded_twice_count_once(tmp_path):
    world = build_world(tmp_path / "w", **TINY)
    index = world.root / "index.jsonl"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines + lines[:1]) + "\n")  # as two concurrent builds wrote it
    meta = json.loads((world.root / "world.json").read_text())
    (world.root / "world.json").write_text(json.dumps({**meta, "complete": False}))
    with pytest.warns(UserWarning, match="is not complete"):
        again = World.open(world.root)
    assert [o.id for o in again] == [o.id for o in world]
    assert len(build_world(world.root, **TINY)) == 2  # finishing it marks it complete
    assert json.loads((world.root / "world.json").read_text())["complete"] is True


def test_growing_with_another_oracle_or_asking_for_fewer_is_said(tmp_path):
    world = build_world(tmp_path / "w", **TINY)
    with pytest.warns(UserWarning, match=r"more objects than asked for \(train 2 > 1\)"):
        assert len(build_world(world.root, **{**TINY, "n_train": 1})) == 2
    meta = json.loads((world.root / "world.json").read_text())
    (world.root / "world.json").write_text(json.dumps({**meta, "oracle_version": "1.0"}))
    with pytest.raises(ValueError, match="gate of oracle 1.0"):
        build_world(world.root, **{**TINY, "n_train": 3})
