"""Prompt sets for `dso generate`: image files, or the rendered views of a world split."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class Prompt:
    """One conditioning image and where it comes from."""

    prompt_id: str
    object_id: str
    family: str | None = None
    split: str | None = None
    view: int = 0
    image_path: str | None = None
    loader: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def load_image(self) -> np.ndarray:
        """The prompt as uint8 H x W x 3 (RGB) or H x W x 4 (RGBA with transparency, which the
        generator crops to the object as TRELLIS does: `dso.models.preprocess`)."""
        from dso.models.preprocess import as_image_array

        if self.loader is not None:
            return as_image_array(self.loader(), self.prompt_id)
        if self.image_path is None:
            raise ValueError(f"prompt {self.prompt_id} has neither an image nor a path")
        return load_image(self.image_path)

    def image_digest(self) -> str | None:
        """The SHA-1 of the image file (None without a file, or when it cannot be read)."""
        if self.image_path is None:
            return None
        try:
            return file_digest(self.image_path)
        except OSError:
            return None

    def row(self, position: int) -> dict:
        """The prompt as a row of the store's prompts table."""
        return {
            "prompt_id": self.prompt_id, "position": position, "object_id": self.object_id,
            "family": self.family, "split": self.split, "view": self.view,
            "image_path": self.image_path,
        }


def file_digest(path: str | Path) -> str:
    """The SHA-1 of a file's bytes, in hex."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as a prompt: uint8 RGB, or RGBA when it has transparency.

    An RGB file must show the object on black or a plain colour; one with a busy background
    raises `dso.models.preprocess.ImageError` saying how to remove it.
    """
    from dso.models.preprocess import read_image

    return read_image(path)


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {p}")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"image not found: {p}")
    return files


def prompts_from_images(paths: Sequence[str | Path]) -> list[Prompt]:
    """Prompts from image files or folders of them; ids are `<stem>-<content hash>`.

    Identical images given twice become one prompt. Each image is its own object (view 0).
    """
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for f in _expand(paths):
        digest = file_digest(f)[:10]
        pid = f"{f.stem}-{digest}"
        if pid in seen:
            continue
        seen.add(pid)
        prompts.append(Prompt(pid, object_id=pid, family=None, split="images", view=0,
                              image_path=str(f.resolve())))
    if not prompts:
        raise ValueError("no images given")
    return prompts


def prompts_from_world(world_dir: str | Path, split: str, views: int | None = None,
                       limit: int | None = None) -> list[Prompt]:
    """Prompts from the rendered views of a world split: first `limit` objects, `views` each.

    Prompt ids are `<object id>/v<view>`; objects come in round-robin family order
    (`World.spread`), so a `limit` takes every family evenly.
    """
    from dso.world import World

    objects = World.open(world_dir).spread(split)
    if not objects:
        raise ValueError(f"world {world_dir} has no objects in split '{split}'")
    prompts: list[Prompt] = []
    for obj in objects[:limit] if limit is not None else objects:
        paths = obj.image_paths()
        for v, path in enumerate(paths if views is None else paths[:views]):
            prompts.append(Prompt(f"{obj.id}/v{v}", object_id=str(obj.id), family=obj.family,
                                  split=split, view=v, image_path=str(path)))
    return prompts
