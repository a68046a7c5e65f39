"""What a tool prints while it loads a config: nothing from the libraries' own deprecations.

mmengine's ``Config`` imports and reloads ``pkg_resources`` for every ``mmdet::``-style base, and setuptools warns
at each: a Mask R-CNN config printed the same deprecation five times before the first line of the run.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOAD = 'import sys; from convnext.launch import load_config; load_config(sys.argv[1]); print("loaded")'


def test_loading_an_mmdet_config_prints_no_pkg_resources_deprecation() -> None:
    config = ROOT / 'configs' / 'mask_rcnn_convnext_t_3x.py'
    done = subprocess.run(
        [sys.executable, '-W', 'default', '-c', LOAD, str(config)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == 'loaded'
    assert 'pkg_resources is deprecated' not in done.stderr, done.stderr[-2000:]


def test_the_filter_ends_with_the_config_load() -> None:
    """Only setuptools' message is silenced, and only while the config loads."""
    after = LOAD + '; import warnings; warnings.warn("pkg_resources is deprecated as an API: shown after the load")'
    config = ROOT / 'configs' / 'convnext_t_sup_300e_in1k.py'
    done = subprocess.run([sys.executable, '-c', after, str(config)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'shown after the load' in done.stderr


def test_a_checkpoint_is_announced_once(tmp_path: Path) -> None:
    """convnext.deploy.init_model: the host's init loads the weights, the fit check reads them again silently."""
    script = (
        'import sys, torch\n'
        'from mmengine.config import Config\n'
        'from mmengine.registry import MODELS, init_default_scope\n'
        'from convnext.deploy import init_model\n'
        "backbone = dict(type='convnext.ConvNeXt', arch=dict(depths=[1, 1], channels=[8, 16]), out_type='avg')\n"
        "head = dict(type='LinearClsHead', num_classes=2, in_channels=16)\n"
        "model = dict(type='ImageClassifier', backbone=backbone, head=head)\n"
        "cfg = Config(dict(default_scope='mmpretrain', model=model))\n"
        "init_default_scope('mmpretrain')\n"
        "torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, sys.argv[1])\n"
        'init_model(cfg, sys.argv[1])\n'
    )
    checkpoint = tmp_path / 'model.pth'
    done = subprocess.run([sys.executable, '-c', script, str(checkpoint)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (done.stdout + done.stderr).count('Loads checkpoint') == 1, done.stdout[-2000:]
