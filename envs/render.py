"""Rendering helpers shared by the worlds: palettes to pixels, and GIF / film-strip writers.

Frames are produced from numpy alone (no display): a world maps its grid to integer colour codes,
``paint`` turns codes into an RGB image with square cells, and the world draws agents on top with
``draw_triangle``. ``save_gif`` writes frames with Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

# Direction order used by every world: 0 up (north), 1 right (east), 2 down (south), 3 left (west).
DIRECTIONS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int64)
"""(4, 2) row/column offsets of the four facings, in IntEnum order (UP, RIGHT, DOWN, LEFT)."""


def paint(codes: np.ndarray, palette: np.ndarray, cell: int = 16) -> np.ndarray:
    """Codes (H, W) int → RGB (H*cell, W*cell, 3) uint8, with a thin grid line per cell."""
    image = palette[codes].astype(np.uint8)
    image = np.repeat(np.repeat(image, cell, axis=0), cell, axis=1)
    image[::cell, :, :] = (image[::cell, :, :] * 0.8).astype(np.uint8)
    image[:, ::cell, :] = (image[:, ::cell, :] * 0.8).astype(np.uint8)
    return image


def _triangle_mask(cell: int, facing: int) -> np.ndarray:
    """(cell, cell) bool mask of a triangle pointing in ``facing`` (0 up, 1 right, 2 down, 3 left)."""
    ys, xs = np.mgrid[0:cell, 0:cell] + 0.5
    margin = cell * 0.15
    u = (ys - margin) / (cell - 2 * margin)  # 0 at the tip row, 1 at the base (pointing up)
    half = np.abs(xs - cell / 2) / (cell - 2 * margin)
    mask = (u >= 0) & (u <= 1) & (half <= u / 2)
    return np.rot90(mask, k=-facing)


def draw_triangle(image: np.ndarray, row: int, col: int, facing: int, color: Sequence[int], cell: int = 16) -> None:
    """Draw an agent as a triangle pointing where it faces, in place."""
    mask = _triangle_mask(cell, int(facing))
    patch = image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]
    patch[mask] = np.asarray(color, dtype=np.uint8)


def draw_dot(image: np.ndarray, row: int, col: int, color: Sequence[int], cell: int = 16, radius: float = 0.25) -> None:
    """Draw a filled disc (an item) in a cell, in place."""
    ys, xs = np.mgrid[0:cell, 0:cell] + 0.5
    mask = (ys - cell / 2) ** 2 + (xs - cell / 2) ** 2 <= (radius * cell) ** 2
    patch = image[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]
    patch[mask] = np.asarray(color, dtype=np.uint8)


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: int = 8) -> Path:
    """Write RGB frames (H, W, 3) uint8 as a looping GIF; returns the path."""
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0, optimize=False)
    return path


def film_strip(frames: Sequence[np.ndarray], columns: int = 8, gap: int = 4) -> np.ndarray:
    """Tile frames (H, W, 3) into one image, ``columns`` per row, white gaps between."""
    if not frames:
        raise ValueError("film_strip needs at least one frame")
    h, w, _ = frames[0].shape
    rows = -(-len(frames) // columns)
    cols = min(columns, len(frames))
    sheet = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, frame in enumerate(frames):
        r, c = divmod(i, columns)
        sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = frame
    return sheet
