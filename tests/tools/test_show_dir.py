"""tools/test.py --show-dir: one folder for every host (relative: inside the work dir), printed at the end.

The hosts' hooks save differently (mmdet under ``work_dir/<timestamp>/``, mmpretrain relative to the current
directory, mmseg through the visualizer's backends); the tool gives each the same absolute folder and keeps how
often each host draws.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / 'configs'
HOST_CONFIGS = {
    'mmdet': 'mask_rcnn_convnext_t_3x.py',
    'mmseg': 'upernet_convnext_t_160k_ade20k_512.py',
    'mmpretrain': 'convnext_t_sup_300e_in1k.py',
}
MMPRETRAIN_INTERVAL = 5000
"""mmpretrain's VisualizationHook draws one image in this many by default."""


@pytest.fixture
def in_tmp_dir(tmp_path: Path) -> Iterator[Path]:
    """Runs the test from an empty current directory, so drawings saved there are seen."""
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    previous = Path.cwd()
    os.chdir(cwd)
    yield cwd
    os.chdir(previous)


def saved_folder(cfg: Config) -> str:
    """Where the host's hook (mmdet, mmpretrain) or visualizer backend (mmseg) will write the drawings."""
    hook = cfg.default_hooks.visualization
    if cfg.default_scope == 'mmseg':
        return next(b['img_save_dir'] for b in cfg.visualizer.vis_backends if b['type'].endswith('LocalVisBackend'))
    return hook['out_dir'] if cfg.default_scope == 'mmpretrain' else hook['test_out_dir']


@pytest.mark.parametrize('scope', sorted(HOST_CONFIGS))
@pytest.mark.parametrize('show_dir', ['vis', '/abs/vis'])
def test_every_host_draws_in_the_one_folder(test_tool: ModuleType, tmp_path: Path, scope: str, show_dir: str) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / HOST_CONFIGS[scope]))
    cfg.work_dir = str(tmp_path / 'work')
    test_tool.enable_drawing(cfg, show_dir)
    expected = show_dir if os.path.isabs(show_dir) else str(tmp_path / 'work' / show_dir)
    assert saved_folder(cfg) == expected
    assert test_tool.drawing_dir(cfg.work_dir, show_dir) == expected


def test_mmseg_keeps_its_other_backends_and_log_folder(test_tool: ModuleType, tmp_path: Path) -> None:
    cfg = Config.fromfile(str(CONFIG_DIR / HOST_CONFIGS['mmseg']))
    cfg.work_dir = str(tmp_path)
    cfg.visualizer.vis_backends = [dict(type='TensorboardVisBackend')]
    test_tool.enable_drawing(cfg, 'vis')
    assert cfg.visualizer.get('save_dir') is None  # config and scalars stay in the run's log folder
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['TensorboardVisBackend', 'LocalVisBackend']


def test_classifier_drawings_land_in_the_work_dir_and_are_reported(
    test_tool: ModuleType, tiny_config: Path, tmp_path: Path, in_tmp_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = Config.fromfile(str(tiny_config))
    init_default_scope('mmpretrain')
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, checkpoint)
    work_dir = tmp_path / 'work'
    assert test_tool.main([str(tiny_config), str(checkpoint), '--work-dir', str(work_dir), '--show-dir', 'vis']) == 0
    drawings = sorted((work_dir / 'vis').glob('*.png'))
    assert len(drawings) == 1  # 8 images, 1 in 5000 drawn: the host's default interval
    assert not list(in_tmp_dir.rglob('*.png'))  # nothing in the current directory
    assert f'Drawings: 1 images in {work_dir / "vis"}' in capsys.readouterr().out
    assert MMPRETRAIN_INTERVAL == cfg.default_hooks.visualization.get('interval', MMPRETRAIN_INTERVAL)
