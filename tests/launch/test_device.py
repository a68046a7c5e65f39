"""convnext.launch.device: the config adapted to the machine, without modifying the caller's."""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from convnext.compile import CPU_INDUCTOR_OPTIONS
from convnext.launch import adapt_cfg_to_device

ROOT = Path(__file__).resolve().parents[2]


def test_no_workers_turns_persistent_workers_off_and_says_so() -> None:
    """mmdet configs set persistent_workers=True; torch's DataLoader refuses it with num_workers=0."""
    cfg = Config.fromfile(str(ROOT / 'configs' / 'mask_rcnn_convnext_t_3x.py'))
    cfg.merge_from_dict({'train_dataloader.num_workers': 0})
    assert cfg.train_dataloader.persistent_workers and cfg.val_dataloader.num_workers > 0
    adapted, changes = adapt_cfg_to_device(cfg, distributed=False)
    assert adapted.train_dataloader.persistent_workers is False
    assert adapted.val_dataloader.persistent_workers is True  # it has workers: unchanged
    assert 'train_dataloader.persistent_workers -> False (num_workers=0)' in changes
    assert cfg.train_dataloader.persistent_workers is True  # the caller's config is not modified


def test_tools_add_the_options_to_a_configs_compile_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """mmengine's Runner calls torch.compile(train_step, **cfg.compile): the options must be in the config it gets."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config({'compile': {'dynamic': False}})
    adapted, changes = adapt_cfg_to_device(cfg, distributed=False)
    assert adapted.compile == {'dynamic': False, 'options': CPU_INDUCTOR_OPTIONS}
    assert changes == [f'compile options {CPU_INDUCTOR_OPTIONS} (CPU inductor)']
    assert cfg.compile == {'dynamic': False}
    unset, changes = adapt_cfg_to_device(Config({}), distributed=False)
    assert 'compile' not in unset and changes == []
