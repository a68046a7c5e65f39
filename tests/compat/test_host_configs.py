"""Every ConvNeXt backbone in the configs mmpretrain, mmdet and mmseg ship works with only ``type`` changed to ours.

For each distinct backbone dict of the installed packages' ``.mim/configs/convnext*`` folders (``init_cfg`` dropped:
nothing can be downloaded), ``mmpretrain.ConvNeXt`` is built from it with random weights (non-trivial layer scale,
GRN and norms), and ours from the same dict with ``type='convnext.ConvNeXt'`` through the host's registry, loading
the mmpretrain model's saved state dict through ``init_cfg=dict(type='Pretrained', ...)`` as a user would. Both
give the same outputs in eval mode.
"""

import copy
import importlib
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'models' / 'backbones'))
from mmpretrain_reference import randomise_scales_and_norms  # noqa: E402

HOST_CONFIG_FOLDERS = {'mmpretrain': ('convnext', 'convnext_v2'), 'mmdet': ('convnext',), 'mmseg': ('convnext',)}
"""The ConvNeXt config folders each host package installs under ``.mim/configs``."""

SLOW_ARCHS = ('large', 'xlarge', 'huge')
"""Archs of 198M parameters and more: building, initialising, saving and loading two copies takes 15-90 s on two
CPU cores (xlarge and huge also several gigabytes)."""

MIN_DISTINCT_BACKBONES = 15
"""mmpretrain 1.2, mmdet 3.3 and mmseg 1.2 ship 20 distinct ConvNeXt backbones; fewer means the walk broke."""

INPUT_SHAPE = (1, 3, 64, 64)
TOL = 1e-5
DROPPED_KEYS = ('type', 'init_cfg', '_delete_')
"""Not architecture: the class, the (remote) checkpoint, and a merge directive."""


def host_config_files(package: str) -> list[Path]:
    """The ``.py`` configs of ``package``'s ConvNeXt folders."""
    root = Path(importlib.import_module(package).__file__).parent / '.mim' / 'configs'
    return sorted(path for folder in HOST_CONFIG_FOLDERS[package] for path in (root / folder).glob('*.py'))


def backbone_kwargs(path: Path) -> dict | None:
    """The backbone arguments of a config (without ``DROPPED_KEYS``), or None when its backbone is not a ConvNeXt."""
    backbone = Config.fromfile(str(path)).get('model', {}).get('backbone')
    if backbone is None or not str(backbone.get('type', '')).endswith('ConvNeXt'):
        return None
    return {key: value for key, value in backbone.to_dict().items() if key not in DROPPED_KEYS}


def distinct_backbones() -> dict[str, tuple[str, dict, list[str]]]:
    """``{id: (package, kwargs, config names)}`` for each distinct ConvNeXt backbone of the hosts' configs."""
    found: dict[str, tuple[str, dict, list[str]]] = {}
    for package in HOST_CONFIG_FOLDERS:
        for path in host_config_files(package):
            kwargs = backbone_kwargs(path)
            if kwargs is None:
                continue
            key = f'{package}:{sorted(kwargs.items())!r}'
            if key not in found:
                found[key] = (package, kwargs, [])
            found[key][2].append(path.stem)
    return {f'{package}-{names[0]}': (package, kwargs, names) for package, kwargs, names in found.values()}


BACKBONES = distinct_backbones()


def slow_if_large(case_id: str) -> pytest.param:
    arch = BACKBONES[case_id][1].get('arch', 'tiny')
    marks = [pytest.mark.slow] if arch in SLOW_ARCHS else []
    return pytest.param(case_id, marks=marks, id=case_id)


def randomised_mmpretrain(kwargs: dict) -> torch.nn.Module:
    """``mmpretrain.ConvNeXt(**kwargs)`` with non-trivial layer scale, GRN and norm parameters, in eval mode."""
    from mmpretrain.models import ConvNeXt as MMPretrainConvNeXt

    # PyTorch's default init (random enough to compare, and without mmengine's per-parameter init log); a copy:
    # mmpretrain writes the resolved out_indices into the caller's list.
    return randomise_scales_and_norms(MMPretrainConvNeXt(**copy.deepcopy(kwargs)))


def build_ours(package: str, kwargs: dict, checkpoint: Path) -> torch.nn.Module:
    """The host's registry builds the config's backbone with only ``type`` changed (and our local checkpoint)."""
    registry = importlib.import_module(f'{package}.registry').MODELS
    cfg = dict(copy.deepcopy(kwargs), type='convnext.ConvNeXt')
    cfg['init_cfg'] = dict(type='Pretrained', checkpoint=str(checkpoint))
    with DefaultScope.overwrite_default_scope(package):
        model = registry.build(cfg)
    model.init_weights()
    return model.eval()


def test_every_host_ships_convnext_backbones() -> None:
    packages = {package for package, _, _ in BACKBONES.values()}
    assert packages == set(HOST_CONFIG_FOLDERS) and len(BACKBONES) >= MIN_DISTINCT_BACKBONES, sorted(BACKBONES)


@pytest.mark.parametrize('case_id', [slow_if_large(case_id) for case_id in BACKBONES])
def test_host_backbone_gives_mmpretrains_outputs(case_id: str, tmp_path: Path) -> None:
    package, kwargs, _ = BACKBONES[case_id]
    x = torch.randn(INPUT_SHAPE)
    reference = randomised_mmpretrain(kwargs)
    with torch.no_grad():
        expected = reference(x)
    checkpoint = tmp_path / 'mmpretrain_backbone.pth'
    torch.save(reference.state_dict(), checkpoint)
    del reference  # the large archs: one model in memory at a time
    ours = build_ours(package, kwargs, checkpoint)
    with torch.no_grad():
        outs = ours(x)
    assert isinstance(outs, tuple) and len(outs) == len(expected)
    for out, ref in zip(outs, expected, strict=True):
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, rtol=TOL, atol=TOL * ref.abs().max().item())
