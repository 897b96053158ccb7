"""Prompt images as TRELLIS prepares them, in one place for `generate`, `eval` and Python.

- RGBA with transparency: crop a square around the bounding box of the pixels with alpha above
  0.8 (side 1.2 x the box's longer side, centred on the box, padded with transparency where it
  leaves the image), resize it to the encoder's size (Lanczos), premultiply the colour by alpha
  (the background becomes black). This is TRELLIS's own preprocessing of an RGBA input;
  TRELLIS.2 crops the same way with no margin (`margin=1.0`).
- RGB (or RGBA that is opaque everywhere) on black: taken as is and only resized.
- RGB on one plain colour other than black (a white backdrop): the pixels of the border's
  colour (within `BORDER_TOLERANCE`) become transparent, and the image is prepared as RGBA
  above, so the encoder sees the object on black, cropped, as TRELLIS's own pipeline (which
  removes every background) gives it. Object pixels of the backdrop's colour turn black too:
  for such an object give an RGBA image. `read_image` refuses an RGB file whose border is
  busy (a photo), with a message that says how to remove the background.

`prepare_image(img, size)` gives the uint8 size x size x 3 image a condition encoder takes;
every `StageOneGenerator.condition` call goes through it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ALPHA_CUT = 0.8 * 255  # pixels above this alpha define the object's bounding box
MARGIN = 1.2  # crop side / longer side of the bounding box
BORDER_TOLERANCE = 24  # max channel difference from the border's median colour
BORDER_SHARE = 0.9  # share of border pixels that must be that colour for a plain background

BUSY_HINT = (
    "dso needs the object on black or one plain colour, or an RGBA image whose alpha masks the "
    "object: remove the background first, e.g. with the rembg tool (`pip install rembg`, then "
    "`rembg i photo.jpg object.png` writes an RGBA PNG), or cut the object out in an image "
    "editor and save it as a PNG with transparency"
)


class ImageError(ValueError):
    """An image dso cannot use as a prompt; the message says why and what to do."""


def as_image_array(img: np.ndarray, where: str = "image") -> np.ndarray:
    """uint8 H x W x 3 (RGB) or H x W x 4 (RGBA, only when some pixel is not opaque)."""
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 1:
        raise ImageError(f"{where}: expected an H x W x 3 (RGB) or x 4 (RGBA) image, "
                         f"got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            raise ImageError(f"{where}: pixel values must be finite numbers ({arr.dtype})")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        arr = np.clip(arr.astype(np.float64) * scale, 0, 255).round().astype(np.uint8)
    if arr.shape[2] in (1, 2):  # grey, grey + alpha
        arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
    if arr.shape[2] == 4 and (arr[..., 3] == 255).all():
        arr = arr[..., :3]  # opaque everywhere: no alpha to crop by (as TRELLIS decides)
    return np.ascontiguousarray(arr)


def _border(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """(the median colour of the image's outer frame, whether the frame is mostly that colour)."""
    h, w = rgb.shape[:2]
    k = max(1, min(h, w) // 32)
    frame = np.concatenate([rgb[:k].reshape(-1, 3), rgb[-k:].reshape(-1, 3),
                            rgb[:, :k].reshape(-1, 3), rgb[:, -k:].reshape(-1, 3)]).astype(int)
    median = np.median(frame, axis=0)
    close = np.abs(frame - median).max(axis=1) <= BORDER_TOLERANCE
    return median, bool(close.mean() >= BORDER_SHARE)


def border_is_plain(rgb: np.ndarray) -> bool:
    """Whether the image's outer frame is (mostly) one colour: black or a plain backdrop."""
    return _border(rgb)[1]


def backdrop_to_alpha(rgb: np.ndarray) -> np.ndarray | None:
    """RGBA with the plain non-black backdrop of `rgb` transparent (None: black, busy, or all
    backdrop with no object to cut out)."""
    colour, plain = _border(rgb)
    if not plain or colour.max() <= BORDER_TOLERANCE:
        return None
    backdrop = np.abs(rgb.astype(int) - colour).max(axis=2) <= BORDER_TOLERANCE
    if backdrop.all():
        return None
    alpha = np.where(backdrop, 0, 255).astype(np.uint8)
    return np.concatenate([rgb, alpha[..., None]], axis=2)


def check_background(img: np.ndarray, where: str = "image") -> np.ndarray:
    """`as_image_array(img)`, refusing RGB images whose border is busy (see module docstring)."""
    arr = as_image_array(img, where)
    if arr.shape[2] == 3 and not border_is_plain(arr):
        raise ImageError(f"{where}: the background is not plain (a photo?); {BUSY_HINT}")
    return arr


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/WebP/... file as a prompt: RGB, or RGBA when it has transparency.

    Raises ImageError when the file cannot be read or is an RGB image with a busy background.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            transparent = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            arr = np.asarray(im.convert("RGBA" if transparent else "RGB"))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:
        raise ImageError(f"{path}: not a readable image ({err})") from None
    return check_background(arr, str(path))


def crop_to_alpha(rgba: np.ndarray, where: str = "image", margin: float = MARGIN
                  ) -> Image.Image:
    """The square RGBA crop around the object, as TRELLIS makes it (see module docstring);
    `margin` is the crop side over the box's longer side (TRELLIS 1.2, TRELLIS.2 1.0)."""
    rows, cols = np.nonzero(rgba[..., 3] > ALPHA_CUT)
    if rows.size == 0:
        raise ImageError(f"{where}: no pixel has alpha above 0.8: nothing to crop to (is the "
                         "object fully transparent?)")
    x0, x1, y0, y1 = cols.min(), cols.max(), rows.min(), rows.max()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(int(max(x1 - x0, y1 - y0) * margin) // 2, 1)
    box = (cx - half, cy - half, cx + half, cy + half)  # PIL rounds; outside pads transparent
    return Image.fromarray(rgba, "RGBA").crop(box)


def prepare_image(img: np.ndarray, size: int, where: str = "image", margin: float = MARGIN
                  ) -> np.ndarray:
    """The uint8 size x size x 3 image (RGB on black) a condition encoder of `size` px takes
    (`margin`: see `crop_to_alpha`)."""
    arr = as_image_array(img, where)
    if arr.shape[2] == 3 and (keyed := backdrop_to_alpha(arr)) is not None:
        arr = keyed  # the object on black, cropped, as for RGBA
    if arr.shape[2] == 4:
        crop = crop_to_alpha(arr, where, margin).resize((size, size), Image.LANCZOS)
        px = np.asarray(crop).astype(np.float32) / 255
        return (px[..., :3] * px[..., 3:4] * 255).astype(np.uint8)
    if arr.shape[:2] == (size, size):
        return arr
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.LANCZOS))
