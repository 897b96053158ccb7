"""The SQLite index and safetensors shards: round trip, WAL, locking, errors."""

import sqlite3

import pytest
import torch

from dso.data import schema
from dso.data.files import write_shard
from dso.data.schema import SCHEMA_VERSION
from dso.data.store import DatasetError, SampleStore


def _prompt(pid, pos, obj="o1", view=0):
    return {"prompt_id": pid, "position": pos, "object_id": obj, "family": "lamp",
            "split": "train", "view": view, "image_path": None}


def _fill(store):
    lat = torch.arange(3 * 2 * 8, dtype=torch.float32).reshape(3, 2, 2, 2, 2)
    cond = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0))
    write_shard(store.root / "latents" / "c0.safetensors", {"latents": lat})
    write_shard(store.root / "conditions" / "c0.safetensors", {"cond": cond})
    with store.transaction():
        store.add_prompts([_prompt("a", 0), _prompt("b", 1, view=1)])
    samples = [
        {"sample_id": 10 + i, "prompt_id": "ab"[i // 2], "sample_index": i % 2, "seed": 7 + i,
         "status": "ok", "latent_shard": "latents/c0.safetensors", "latent_index": i,
         "mesh_path": f"meshes/{10 + i}.ply"} for i in range(3)
    ]
    samples.append({"sample_id": 2**40, "prompt_id": "b", "sample_index": 1, "seed": 2**40,
                    "status": "failed", "error": "boom"})
    store.record_chunk([("a", "conditions/c0.safetensors", 0),
                        ("b", "conditions/c0.safetensors", 1)], samples)
    return lat, cond


def test_round_trip_and_reopen(tmp_path):
    with SampleStore.open(tmp_path / "ds", create=True) as store:
        lat, cond = _fill(store)
        store.set_meta({"generator": "toy", "sampler": {"steps": 3}})
        store.record_labels([
            {"sample_id": 10, "status": "ok", "stable": 1, "tilt_deg": 1.5, "preset": "accurate",
             "threshold_deg": 20.0, "oracle_version": "1.0", "attempts": 1},
            {"sample_id": 11, "status": "ok", "stable": 0, "tilt_deg": 80.0,
             "preset": "accurate", "threshold_deg": 20.0, "oracle_version": "1.0",
             "attempts": 1},
            {"sample_id": 12, "status": "error", "error": "bad mesh", "preset": "accurate",
             "threshold_deg": 20.0, "oracle_version": "1.0", "attempts": 1},
        ])
    with SampleStore.open(tmp_path / "ds") as store:
        assert store.meta()["generator"] == "toy"
        assert store.meta()["sampler"] == {"steps": 3}
        got = store.latents([12, 10, 12])
        assert got.dtype == torch.float32 and got.shape == (3, 2, 2, 2, 2)
        assert torch.equal(got, lat[[2, 0, 2]])
        assert torch.equal(store.conditions(["b", "a"]), cond[[1, 0]])
        rows = store.labelled()
        assert [(r.sample_id, r.stable, r.tilt_deg) for r in rows] == [(10, True, 1.5),
                                                                      (11, False, 80.0)]
        assert rows[0].object_id == "o1" and rows[0].seed == 7 and rows[0].split == "train"
        assert store.labelled(split="eval") == []
        big = [s for s in store.samples() if s["status"] == "failed"][0]
        assert big["sample_id"] == 2**40  # 64-bit ids (the release used int8)
        assert {s["sample_id"] for s in store.to_label(retry_failed=False)} == set()
        assert [s["sample_id"] for s in store.to_label(retry_failed=True)] == [12]
        with pytest.raises(DatasetError, match="no stored latent"):
            store.latents([2**40])


def test_wal_mode_and_duplicate_rows_rejected(tmp_path):
    with SampleStore.open(tmp_path / "ds", create=True) as store:
        _fill(store)
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(sqlite3.IntegrityError):
            store.record_chunk([], [{"sample_id": 99, "prompt_id": "a", "sample_index": 0,
                                     "seed": 0, "status": "ok"}])
        # the failed transaction left nothing behind
        assert 99 not in {s["sample_id"] for s in store.samples()}
    conn = sqlite3.connect(tmp_path / "ds" / "index.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="dso generate"):
        SampleStore.open(tmp_path / "nothing")


def test_writer_lock_is_exclusive_per_action(tmp_path):
    a = SampleStore.open(tmp_path / "ds", create=True)
    b = SampleStore.open(tmp_path / "ds")
    with a.writer_lock("label"):
        with pytest.raises(DatasetError, match="another `label` run"):
            with b.writer_lock("label"):
                pass
        with b.writer_lock("generate"):  # labelling may follow a running generation
            assert a.writing("generate") and b.writing("label")
        assert not a.writing("generate")
    assert not b.writing("label")
    with b.writer_lock("label"):
        pass
    a.close()
    b.close()


def test_readers_are_not_blocked_by_a_writer(tmp_path):
    writer = SampleStore.open(tmp_path / "ds", create=True)
    _fill(writer)
    reader = SampleStore.open(tmp_path / "ds")
    with writer.transaction():  # an open write transaction (as during labelling)
        writer.conn.execute("UPDATE samples SET status = 'empty' WHERE sample_id = 10")
        statuses = {s["sample_id"]: s["status"] for s in reader.samples()}
        assert statuses[10] == "ok"  # WAL: the reader sees the last commit, without waiting
    assert {s["sample_id"]: s["status"] for s in reader.samples()}[10] == "empty"
    writer.close()
    reader.close()


def test_a_newer_schema_version_is_refused(tmp_path):
    with SampleStore.open(tmp_path / "ds", create=True) as store:
        store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(DatasetError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        SampleStore.open(tmp_path / "ds")


def test_a_schema_1_dataset_is_migrated_in_place_keeping_its_rows(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    conn = sqlite3.connect(root / "index.sqlite")  # a dataset as dso wrote it at schema 1
    conn.executescript(schema.BASE)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO prompts (prompt_id, position, object_id) VALUES ('p', 0, 'o')")
    conn.execute("INSERT INTO samples (sample_id, prompt_id, sample_index, seed, status) "
                 "VALUES (7, 'p', 0, 0, 'ok')")
    conn.execute("INSERT INTO labels (sample_id, status, stable, tilt_deg, preset, "
                 "threshold_deg, oracle_version) VALUES (7, 'ok', 1, 2.5, 'accurate', 20, '1.0')")
    conn.commit()
    conn.close()
    with SampleStore.open(root) as store:
        assert schema.stored_version(store.conn) == SCHEMA_VERSION == 3
        (record,) = store.records()
        assert record["stable"] is True and record["tilt_deg"] == 2.5
        assert record["oracle_version"] == "1.0" and record["pieces"] is None
        assert store.label_configs() == [("accurate", 20.0, "1.0")]
        assert store.prompts()[0]["image_sha1"] is None
    with SampleStore.open(root) as again:  # migrations run once
        assert again.meta()["schema_version"] == SCHEMA_VERSION


def test_a_folder_holding_other_files_is_never_made_a_dataset(tmp_path):
    world = tmp_path / "world"
    (world / "meshes").mkdir(parents=True)
    (world / "meshes" / "chair.ply").write_text("mine")
    with pytest.raises(DatasetError, match="not empty and holds no dataset"):
        SampleStore.open(world, create=True)
    assert (world / "meshes" / "chair.ply").read_text() == "mine"
    assert not (world / "index.sqlite").exists()
    # the empty folders a creation stopped before its index leaves are a dataset's own
    stopped = tmp_path / "stopped"
    for sub in ("latents", "conditions", "meshes"):
        (stopped / sub).mkdir(parents=True)
    SampleStore.open(stopped, create=True).close()
