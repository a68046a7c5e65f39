"""A small synthetic COCO-format instance-segmentation dataset, generated on the fly.

Every image is a noisy, slightly tinted background with a few non-overlapping
objects of three classes, each with its own colour family and texture:

- ``circle``: reddish, horizontal stripes;
- ``square``: greenish, checkerboard;
- ``triangle``: bluish, dots.

Masks are stored as pycocotools RLE, boxes as ``[x, y, w, h]``, so mmdet's
``CocoDataset`` and ``CocoMetric`` read the files like COCO itself::

    root/
      annotations/instances_train.json, instances_val.json
      train/000000.png ...
      val/000000.png ...
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

CLASSES = ('circle', 'square', 'triangle')
"""Object classes, in label order."""

CLASS_COLORS = {'circle': (200, 60, 50), 'square': (60, 180, 70), 'triangle': (60, 80, 210)}
"""Base RGB colour of each class (jittered per object)."""

SPLITS = ('train', 'val')
"""Splits that :func:`make_synthetic_coco` writes."""

NOISE_STD = 18.0
"""Standard deviation of the Gaussian pixel noise on every image."""

COLOR_JITTER = 30
"""Maximum per-channel shift of an object's colour from its class colour."""

TEXTURE_PERIOD = 6
"""Period in pixels of the stripes, checkerboard and dots."""

TEXTURE_CONTRAST = 0.45
"""Brightness factor of the dark part of a texture."""

MIN_OBJECT_FRACTION = 0.18
"""Smallest object side as a fraction of the image side."""

MAX_OBJECT_FRACTION = 0.45
"""Largest object side as a fraction of the image side."""

PLACEMENT_TRIES = 30
"""Random positions tried per object before it is skipped."""


@dataclass(frozen=True)
class SyntheticCocoSpec:
    """What to generate.

    Args:
        num_train: Training images. Defaults to 160.
        num_val: Validation images. Defaults to 40.
        image_size: Side of the square images in pixels. Defaults to 160.
        max_objects: Most objects per image (at least one). Defaults to 3.
        seed: Random seed; the same spec gives the same files. Defaults to 0.
    """

    num_train: int = 160
    num_val: int = 40
    image_size: int = 160
    max_objects: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ('num_train', 'num_val', 'image_size', 'max_objects'):
            if getattr(self, name) < 1:
                raise ValueError(f'SyntheticCocoSpec.{name} must be >= 1, got {getattr(self, name)}')
        if self.image_size < 32:
            raise ValueError(f'SyntheticCocoSpec.image_size must be >= 32 pixels, got {self.image_size}')


def make_synthetic_coco(root: str | Path, spec: SyntheticCocoSpec = SyntheticCocoSpec()) -> dict[str, Path]:
    """Writes the dataset under ``root`` and returns its annotation files.

    Args:
        root: Output directory (created).
        spec: Sizes and seed. Defaults to ``SyntheticCocoSpec()``.

    Returns:
        ``{'train': .../instances_train.json, 'val': .../instances_val.json}``.
    """
    root = Path(root)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    counts = {'train': spec.num_train, 'val': spec.num_val}
    ann_files = {}
    for split in SPLITS:
        coco = _make_split(root / split, counts[split], spec, rng)
        ann_files[split] = root / 'annotations' / f'instances_{split}.json'
        ann_files[split].write_text(json.dumps(coco))
    return ann_files


def _make_split(image_dir: Path, num_images: int, spec: SyntheticCocoSpec, rng: np.random.Generator) -> dict:
    """Draws ``num_images`` images into ``image_dir``; returns the COCO dict."""
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(num_images):
        file_name = f'{image_id:06d}.png'
        pixels, objects = _draw_image(spec.image_size, spec.max_objects, rng)
        Image.fromarray(pixels).save(image_dir / file_name)
        images.append({'id': image_id, 'file_name': file_name, 'height': spec.image_size, 'width': spec.image_size})
        for label, mask in objects:
            annotations.append(_annotation(len(annotations), image_id, label, mask))
    categories = [{'id': i + 1, 'name': name, 'supercategory': 'shape'} for i, name in enumerate(CLASSES)]
    return {'images': images, 'annotations': annotations, 'categories': categories}


def _draw_image(size: int, max_objects: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """One image ``(size, size, 3)`` uint8 and its ``(label, mask (size, size) bool)`` objects."""
    tint = rng.uniform(70, 170, size=3)
    canvas = np.broadcast_to(tint, (size, size, 3)).astype(np.float32)
    occupied = np.zeros((size, size), dtype=bool)
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(CLASSES)))
        mask = _place_shape(CLASSES[label], size, occupied, rng)
        if mask is None:
            continue
        occupied |= mask
        canvas[mask] = _textured_colour(CLASSES[label], size, rng)[mask]
        objects.append((label, mask))
    canvas += rng.normal(0.0, NOISE_STD, size=canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8), objects


def _place_shape(name: str, size: int, occupied: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A mask ``(size, size)`` of a shape that does not touch ``occupied``, or None."""
    low, high = int(MIN_OBJECT_FRACTION * size), int(MAX_OBJECT_FRACTION * size)
    for _ in range(PLACEMENT_TRIES):
        side = int(rng.integers(low, high + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side, size=2))
        mask = _shape_mask(name, size, (x0, y0, x0 + side, y0 + side))
        if not (mask & occupied).any():
            return mask
    return None


def _shape_mask(name: str, size: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean mask ``(size, size)`` of a class's shape inscribed in ``box`` (x0, y0, x1, y1)."""
    image = Image.new('L', (size, size), 0)
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    if name == 'circle':
        draw.ellipse(box, fill=1)
    elif name == 'square':
        draw.rectangle(box, fill=1)
    elif name == 'triangle':
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=1)
    else:
        raise ValueError(f'unknown shape {name!r}; expected one of {CLASSES}')
    return np.asarray(image, dtype=bool)


def _textured_colour(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A full image ``(size, size, 3)`` of the class colour with its texture."""
    colour = np.clip(np.array(CLASS_COLORS[name]) + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, size=3), 0, 255)
    ys, xs = np.mgrid[0:size, 0:size]
    phase = int(rng.integers(TEXTURE_PERIOD))
    if name == 'circle':
        dark = (ys + phase) // (TEXTURE_PERIOD // 2) % 2 == 0
    elif name == 'square':
        dark = ((xs + phase) // TEXTURE_PERIOD + (ys + phase) // TEXTURE_PERIOD) % 2 == 0
    else:
        dark = ((xs + phase) % TEXTURE_PERIOD < 2) & ((ys + phase) % TEXTURE_PERIOD < 2)
    brightness = np.where(dark, TEXTURE_CONTRAST, 1.0)[..., None]
    return (colour * brightness).astype(np.float32)


def _annotation(ann_id: int, image_id: int, label: int, mask: np.ndarray) -> dict:
    """The COCO annotation of one object mask ``(H, W)`` (RLE segmentation)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    rle['counts'] = rle['counts'].decode('ascii')
    return {
        'id': ann_id + 1,
        'image_id': image_id,
        'category_id': label + 1,
        'segmentation': rle,
        'area': float(mask.sum()),
        'bbox': [x, y, w, h],
        'iscrowd': 0,
    }
