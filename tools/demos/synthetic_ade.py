"""A small synthetic dataset in the ADE20K layout, for demos and tests.

Layout (what mmseg's ``ADE20KDataset``/``BaseSegDataset`` read)::

    ROOT/images/training/*.jpg        RGB images
    ROOT/images/validation/*.jpg
    ROOT/annotations/training/*.png   label maps, one uint8 class index per pixel
    ROOT/annotations/validation/*.png

Label maps follow the ADE20K convention: 0 is "unlabeled" and class ``k`` is
stored as ``k + 1``, so the dataset is read with ``reduce_zero_label=True``
(0 becomes the ignore index 255, ``k + 1`` becomes ``k``). Each image shows a
few shapes (discs, boxes, triangles, rings), each class with its own colour
and texture, on a textured ground; a thin unlabeled outline surrounds every
shape, as in the real annotations.
"""

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ('ground', 'disc', 'box', 'triangle', 'ring')
"""Class names, in label order (after ``reduce_zero_label``)."""

PALETTE = ((120, 110, 90), (220, 50, 40), (40, 170, 60), (50, 80, 220), (230, 200, 40))
"""Base RGB colour of each class; also the palette drawn by the visualizer."""

SPLITS = {'training': 'train', 'validation': 'val'}
"""ADE20K split folder -> file-name prefix."""

UNLABELED = 0
"""Label value of unlabeled pixels (ignored after ``reduce_zero_label``)."""

MIN_SHAPES, MAX_SHAPES = 1, 4
"""Number of shapes per image, inclusive."""

MIN_RADIUS_FRAC, MAX_RADIUS_FRAC = 0.1, 0.25
"""Shape radius as a fraction of the image side."""

COLOR_JITTER = 25
"""Maximum per-shape shift of each RGB channel."""

NOISE_STD = 12.0
"""Standard deviation of the per-pixel noise of every texture."""

TEXTURE_PERIOD = 6
"""Period in pixels of the stripes, checkers and dots."""

TEXTURE_CONTRAST = 35.0
"""Brightness swing of the stripes, checkers and dots."""

OUTLINE_WIDTH = 1
"""Width in pixels of the unlabeled outline around every shape."""

RING_INNER_FRAC = 0.55
"""Inner radius of a ring as a fraction of its outer radius."""

JPEG_QUALITY = 95


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(y, x)``, each ``(size, size)`` float."""
    coords = np.arange(size, dtype=np.float32) + 0.5
    return np.meshgrid(coords, coords, indexing='ij')


def _disc(y: np.ndarray, x: np.ndarray, cy: float, cx: float, r: float, rng: np.random.Generator) -> np.ndarray:
    return (y - cy) ** 2 + (x - cx) ** 2 <= r**2


def _box(y: np.ndarray, x: np.ndarray, cy: float, cx: float, r: float, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, np.pi / 2)
    u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
    v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
    aspect = rng.uniform(0.6, 1.0)
    return (np.abs(u) <= r) & (np.abs(v) <= r * aspect)


def _triangle(y: np.ndarray, x: np.ndarray, cy: float, cx: float, r: float, rng: np.random.Generator) -> np.ndarray:
    start = rng.uniform(0, 2 * np.pi)
    angles = start + np.arange(3) * 2 * np.pi / 3
    vy, vx = cy + r * np.sin(angles), cx + r * np.cos(angles)
    inside = np.ones_like(x, dtype=bool)
    for i in range(3):
        j = (i + 1) % 3
        # Counter-clockwise vertices: the inside is to the left of every edge.
        cross = (vx[j] - vx[i]) * (y - vy[i]) - (vy[j] - vy[i]) * (x - vx[i])
        inside &= cross >= 0
    return inside


def _ring(y: np.ndarray, x: np.ndarray, cy: float, cx: float, r: float, rng: np.random.Generator) -> np.ndarray:
    dist2 = (y - cy) ** 2 + (x - cx) ** 2
    return (dist2 <= r**2) & (dist2 >= (RING_INNER_FRAC * r) ** 2)


SHAPES: dict[int, Callable[..., np.ndarray]] = {1: _disc, 2: _box, 3: _triangle, 4: _ring}
"""Class index -> mask function ``(y, x, cy, cx, r, rng) -> (H, W) bool``."""


def _texture(label: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Brightness pattern ``(H, W)`` of a class: plain, stripes, checkers, dots or waves."""
    period = TEXTURE_PERIOD
    if label == 1:
        return np.zeros_like(x)
    if label == 2:
        return ((x // period + y // period) % 2) * 2.0 - 1.0
    if label == 3:
        return np.sign(np.sin(2 * np.pi * (x + y) / period))
    if label == 4:
        return np.cos(2 * np.pi * x / period) * np.cos(2 * np.pi * y / period)
    return np.sin(2 * np.pi * y / (4 * period))


def _paint(image: np.ndarray, mask: np.ndarray, label: int, rng: np.random.Generator) -> None:
    """Fills ``mask`` of ``image`` ``(H, W, 3)`` float with the class colour and texture, in place."""
    y, x = _grid(image.shape[0])
    color = np.asarray(PALETTE[label], dtype=np.float32) + rng.uniform(-COLOR_JITTER, COLOR_JITTER, 3)
    shade = TEXTURE_CONTRAST * _texture(label, y, x) + rng.normal(0.0, NOISE_STD, x.shape)
    image[mask] = color + shade[mask][:, None]


def _dilate(mask: np.ndarray, width: int) -> np.ndarray:
    """Binary dilation of ``(H, W)`` ``mask`` by a ``(2 width + 1)`` square."""
    padded = np.pad(mask, width)
    size = mask.shape[0]
    out = np.zeros_like(mask)
    for dy in range(2 * width + 1):
        for dx in range(2 * width + 1):
            out |= padded[dy : dy + size, dx : dx + size]
    return out


def make_sample(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One image and its ADE20K-style label map.

    Args:
        size: Side of the square image in pixels.
        rng: Random generator.

    Returns:
        ``(image, label)``: RGB ``(size, size, 3)`` uint8 and ``(size, size)``
        uint8 with 0 unlabeled and ``k + 1`` for class ``k`` of :data:`CLASSES`.
    """
    image = np.zeros((size, size, 3), dtype=np.float32)
    label = np.full((size, size), 1, dtype=np.uint8)
    _paint(image, np.ones((size, size), dtype=bool), 0, rng)
    y, x = _grid(size)
    for _ in range(rng.integers(MIN_SHAPES, MAX_SHAPES + 1)):
        cls = int(rng.integers(1, len(CLASSES)))
        radius = rng.uniform(MIN_RADIUS_FRAC, MAX_RADIUS_FRAC) * size
        cy, cx = rng.uniform(radius, size - radius, 2)
        mask = SHAPES[cls](y, x, cy, cx, radius, rng)
        label[_dilate(mask, OUTLINE_WIDTH) & ~mask] = UNLABELED
        _paint(image, mask, cls, rng)
        label[mask] = cls + 1
    return np.clip(image, 0, 255).astype(np.uint8), label


def generate_dataset(root: str | Path, num_train: int, num_val: int, size: int = 128, seed: int = 0) -> Path:
    """Writes the dataset under ``root`` (see the module docstring); returns ``root``.

    Args:
        root: Output folder; created if missing, existing files overwritten.
        num_train: Number of training images (>= 1).
        num_val: Number of validation images (>= 1).
        size: Side of the square images in pixels (>= 16). Defaults to 128.
        seed: Seed of the generator; the same seed gives the same files.
            Defaults to 0.
    """
    for name, value, low in (('num_train', num_train, 1), ('num_val', num_val, 1), ('size', size, 16)):
        if value < low:
            raise ValueError(f'generate_dataset: {name} must be >= {low}, got {value}')
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (('training', num_train), ('validation', num_val)):
        img_dir, ann_dir = root / 'images' / split, root / 'annotations' / split
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image, label = make_sample(size, rng)
            stem = f'{SPLITS[split]}_{i:05d}'
            Image.fromarray(image).save(img_dir / f'{stem}.jpg', quality=JPEG_QUALITY)
            Image.fromarray(label).save(ann_dir / f'{stem}.png')
    return root
