"""The COCO and ADE20K checkpoints released with ConvNeXt load into our configs as they are.

Each released file (``released_layouts.RELEASED``) is written in its mmcv 1.x
structure (``meta``, ``state_dict``, ``optimizer``; names and shapes from the
official configs and mmdet 2.x / mmseg 0.x naming, see ``released_layouts``),
read the way ``tools/test.py`` reads it (``torch.load(weights_only=True)``)
and loaded strictly into the model of our matching config, built on the meta
device: no key missing, unexpected or of another shape. The layouts themselves
are checked against the parameter counts of the official READMEs, and
``docs/released_checkpoints.md`` against the same mapping.
"""

import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from released_layouts import LAYOUTS, RELEASED, Released, write_released

from convnext.engine.checkpoint_fit import CheckpointMismatchError, check_checkpoint_fits
from convnext.serialization import allow_mmengine_checkpoints, read_checkpoint

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / 'docs' / 'released_checkpoints.md'

README_PARAMS_M = {
    'mask_rcnn_convnext_tiny_1k_3x.pth': 48,
    'cascade_mask_rcnn_convnext_tiny_1k_3x.pth': 86,
    'cascade_mask_rcnn_convnext_small_1k_3x.pth': 108,
    'cascade_mask_rcnn_convnext_base_1k_3x.pth': 146,
    'cascade_mask_rcnn_convnext_base_22k_3x.pth': 146,
    'cascade_mask_rcnn_convnext_large_22k_3x.pth': 255,
    'cascade_mask_rcnn_convnext_xlarge_22k_3x.pth': 407,
    'upernet_convnext_tiny_1k_512x512.pth': 60,
    'upernet_convnext_small_1k_512x512.pth': 82,
    'upernet_convnext_base_1k_512x512.pth': 122,
    'upernet_convnext_base_22k_640x640.pth': 122,
    'upernet_convnext_large_22k_640x640.pth': 235,
    'upernet_convnext_xlarge_22k_640x640.pth': 391,
}
"""``#params`` of object_detection/README.md and semantic_segmentation/README.md (millions, rounded)."""

STATISTICS = ('running_mean', 'running_var', 'num_batches_tracked')
"""Buffers, not parameters: left out of the parameter counts."""

IDS = [released.file for released in RELEASED]


def dataset_classes(kind: str) -> tuple[tuple[str, ...], list[list[int]] | None]:
    """The ``CLASSES`` (and, for ADE20K, ``PALETTE``) that mmdet 2.x / mmseg 0.x wrote into ``meta``."""
    if kind == 'upernet':
        from mmseg.datasets import ADE20KDataset

        return tuple(ADE20KDataset.METAINFO['classes']), [list(c) for c in ADE20KDataset.METAINFO['palette']]
    from mmdet.datasets import CocoDataset

    return tuple(CocoDataset.METAINFO['classes']), None


def build_on_meta(config: str) -> torch.nn.Module:
    """The model of ``configs/<config>``, built without memory (shapes only)."""
    cfg = Config.fromfile(ROOT / 'configs' / config)
    init_default_scope(cfg.default_scope)
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def write(tmp_path: Path, released: Released) -> tuple[Path, dict[str, tuple[int, ...]]]:
    path = tmp_path / released.file
    return path, write_released(path, released, *dataset_classes(released.kind))


@pytest.mark.parametrize('released', RELEASED, ids=IDS)
def test_layout_has_the_readme_parameter_count(released: Released) -> None:
    """The layouts are the official models: their parameter counts are the READMEs' ``#params``."""
    layout = LAYOUTS[released.kind](released.arch)
    params = sum(torch.Size(shape).numel() for key, shape in layout.items() if not key.endswith(STATISTICS))
    assert round(params / 1e6) == README_PARAMS_M[released.file]


@pytest.mark.parametrize('released', RELEASED, ids=IDS)
def test_released_checkpoint_loads_strictly_into_our_config(released: Released, tmp_path: Path) -> None:
    path, layout = write(tmp_path, released)
    allow_mmengine_checkpoints()
    checkpoint = read_checkpoint(str(path))  # torch.load(weights_only=True), as the Runner reads it
    assert checkpoint['meta']['CLASSES'][0] in ('person', 'wall')
    assert checkpoint['meta']['mmcv_version'] == '1.4.2'
    model = build_on_meta(released.config)

    ours = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing, unexpected = sorted(set(ours) - set(layout)), sorted(set(layout) - set(ours))
    assert not missing and not unexpected, f'missing {missing[:5]}, unexpected {unexpected[:5]}'
    assert {key: shape for key, shape in ours.items() if layout[key] != shape} == {}

    check_checkpoint_fits(str(path), checkpoint, model, strict=True)
    _load_checkpoint_to_model(model, checkpoint, strict=True)  # mmengine's own strict load


def test_a_released_file_of_another_size_is_refused(tmp_path: Path) -> None:
    """The same check refuses the Cascade-S file in the Cascade-T config (stage 3 has 27 blocks, not 9)."""
    small = next(released for released in RELEASED if released.file.startswith('cascade_mask_rcnn_convnext_small'))
    path, _ = write(tmp_path, small)
    allow_mmengine_checkpoints()
    with pytest.raises(CheckpointMismatchError, match=r'checkpoint key backbone\.stages\.2\.9\.\S+ .* is not in the'):
        check_checkpoint_fits(
            str(path), read_checkpoint(str(path)), build_on_meta('cascade_mask_rcnn_convnext_t_3x.py'), True
        )


def test_doc_maps_every_released_file_to_its_config() -> None:
    """docs/released_checkpoints.md gives, per released file, the tools/test.py command with the config tested here."""
    text = DOC.read_text()
    for released in RELEASED:
        command = re.search(rf'tools/test\.py (\S+) \S*{re.escape(released.file)}', text)
        assert command is not None, f'{released.file} has no tools/test.py command in {DOC.name}'
        assert command.group(1) == f'configs/{released.config}'
        assert (ROOT / command.group(1)).is_file()
