"""Reading a built world: `World.open(path).objects(split=..., family=...)`."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

INDEX_NAME = "index.jsonl"
META_NAME = "world.json"
_BUILD_TIMES = ("seconds", "cpu_seconds")  # how long an object took: not what it is


def read_index(root: Path) -> list[dict[str, Any]]:
    """The complete records of `root/index.jsonl` (a torn last line, from a crash, is skipped)."""
    path = root / INDEX_NAME
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    first: dict = {}  # an object recorded twice (two builds that once ran at the same time)
    for record in records:
        first.setdefault(record.get("id"), record)
    return list(first.values())


@dataclass(frozen=True)
class WorldObject:
    """One object of the world: metadata plus lazy access to its mesh, grid and images."""

    id: str
    family: str
    split: str
    seed: int
    params: dict[str, Any]
    views: list[str]
    mesh_path: str
    grid_path: str
    tilt_deg: float | None
    margin: float | None
    root: Path = field(repr=False)
    record: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_record(cls, root: Path, rec: dict[str, Any]) -> WorldObject:
        """Build from one index record."""
        return cls(id=rec["id"], family=rec["family"], split=rec["split"], seed=rec["seed"],
                   params=rec["params"], views=list(rec["views"]), mesh_path=rec["mesh"],
                   grid_path=rec["grid"], tilt_deg=rec.get("tilt_deg"),
                   margin=rec.get("margin"), root=root, record=rec)

    def mesh(self) -> trimesh.Trimesh:
        """The closed ground-truth mesh (unit cube, z up, standing on its lowest point)."""
        return trimesh.load(self.root / self.mesh_path, file_type="ply", process=False)

    def grid(self) -> np.ndarray:
        """The occupancy grid, `bool [R, R, R]` indexed `[x, y, z]`."""
        with np.load(self.root / self.grid_path) as data:
            return data["occ"].astype(bool)

    def image_paths(self) -> list[Path]:
        """Absolute paths of the rendered views."""
        return [self.root / v for v in self.views]

    def images(self) -> list[np.ndarray]:
        """The rendered views, `uint8 [H, W, 3]` RGB on black."""
        from PIL import Image

        return [np.asarray(Image.open(p).convert("RGB")) for p in self.image_paths()]


class World:
    """A built world on disk (see `build_world`)."""

    def __init__(self, root: Path, meta: dict[str, Any], records: list[dict[str, Any]]):
        self.root = root
        self.meta = meta
        ok = [r for r in records if r.get("status") == "ok"]
        self._records = {r["id"]: r for r in ok}
        self._objects = sorted((WorldObject.from_record(root, r) for r in ok),
                               key=lambda o: o.id)
        self.failed = sorted(r["id"] for r in records if r.get("status") != "ok")

    @classmethod
    def open(cls, path: str | Path) -> World:
        """Open the world built in folder `path` (FileNotFoundError if there is none)."""
        root = Path(path)
        meta_path = root / META_NAME
        if not meta_path.exists():
            raise FileNotFoundError(f"no world at {root} (missing {META_NAME}); "
                                    "build one with `dso world build`")
        meta = json.loads(meta_path.read_text())
        if meta.get("complete") is False:
            warnings.warn(f"the world at {root} is not complete (its build was stopped): some "
                          "splits hold fewer objects than asked for; rerun `dso world build` "
                          "with the same settings to finish it", stacklevel=2)
        return cls(root, meta, read_index(root))

    def objects(self, split: str | None = None, family: str | None = None) -> list[WorldObject]:
        """Objects sorted by id, optionally only one split and/or family."""
        return [o for o in self._objects
                if (split is None or o.split == split) and (family is None or o.family == family)]

    def fingerprint(self, split: str) -> str:
        """A hash of the objects of `split` as built (ids, seeds, parameters, files): two
        worlds built with other seeds or settings differ, a world grown by other splits'
        objects does not."""
        import hashlib

        records = [{k: v for k, v in self._records[o.id].items() if k not in _BUILD_TIMES}
                   for o in self.objects(split)]
        return hashlib.sha1(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]

    def spread(self, split: str | None = None) -> list[WorldObject]:
        """The objects of `split` in round-robin family order (each family's first object, then
        each family's second, ...; id order within a family), so that the first k of them
        cover the families evenly: what a `limit` on prompts should take."""
        return round_robin(self.objects(split))

    def get(self, object_id: str) -> WorldObject:
        """The object with this id (KeyError otherwise)."""
        for obj in self._objects:
            if obj.id == object_id:
                return obj
        raise KeyError(object_id)

    @property
    def families(self) -> list[str]:
        """Families present, in registry order."""
        from dso.world.families import FAMILIES

        present = {o.family for o in self._objects}
        return [f for f in FAMILIES if f in present]

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self):
        return iter(self._objects)

    def __repr__(self) -> str:
        return f"World({str(self.root)!r}, {len(self)} objects)"


def round_robin(objects: list[WorldObject]) -> list[WorldObject]:
    """Interleave `objects` by family (families in order of first appearance)."""
    groups: dict[str, list[WorldObject]] = {}
    for obj in objects:
        groups.setdefault(obj.family, []).append(obj)
    out: list[WorldObject] = []
    for k in range(max((len(g) for g in groups.values()), default=0)):
        out += [g[k] for g in groups.values() if k < len(g)]
    return out
