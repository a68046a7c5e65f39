"""What a fine-tuning config starts from: which weights, and whether the classifier head is loaded or new.

ConvNeXt appendix A.2: fine-tuning starts from the final (non-EMA) weights, except ConvNeXt-L pre-trained on
ImageNet-1K (its EMA weights); ConvNeXt ``main.py`` keeps the checkpoint's head when its shape matches the new
model's, and ``head_init_scale`` applies to a new head only. ConvNeXt-V2 ``TRAINING.md`` fine-tunes V2-B from its
1600-epoch FCMAE pretraining.
"""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from convnext.models.backbones.convnext import ConvNeXt

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
FB = 'https://dl.fbaipublicfiles.com/convnext'
TINY_ARCH = {'depths': [1, 1, 1, 1], 'channels': [8, 16, 32, 64]}
IN1K_CLASSES = 1000
NEW_HEAD_MAX = 1e-3
"""A new head (trunc-normal std 0.02 x init scale 0.001) has no weight above this."""


def test_v2_b_fine_tuning_starts_from_the_1600_epoch_pretraining() -> None:
    cfg = Config.fromfile(CONFIG_DIR / 'convnextv2_b_fcmae-ft_in1k.py')
    pretraining = 'fcmae_convnextv2_b_1600e_in1k'
    assert (CONFIG_DIR / f'{pretraining}.py').is_file()
    assert cfg.model.backbone.init_cfg.checkpoint == f'work_dirs/{pretraining}/backbone.pth'


@pytest.mark.parametrize(
    ('size', 'weights'), [('b', 'convnext_base_1k_224.pth'), ('l', 'convnext_large_1k_224_ema.pth')]
)
def test_v1_384_fine_tuning_starts_from_the_appendix_weights(size: str, weights: str) -> None:
    cfg = Config.fromfile(CONFIG_DIR / f'convnext_{size}_in1k-ft_30e_in1k_384.py')
    assert cfg.model.backbone.init_cfg.checkpoint == f'{FB}/{weights}'


def _official_checkpoint(path: Path, classes: int) -> dict[str, torch.Tensor]:
    """A tiny checkpoint in the official layout (``model``, final ``norm``, ``head``) with ``classes`` outputs."""
    state = ConvNeXt(arch=TINY_ARCH, out_type='avg').state_dict()
    state = {key.replace('norm3.', 'norm.'): torch.randn_like(value) for key, value in state.items()}
    state['head.weight'] = torch.randn(classes, TINY_ARCH['channels'][-1])
    state['head.bias'] = torch.randn(classes)
    torch.save({'model': state}, path)
    return state


def _classifier(name: str, checkpoint: Path) -> torch.nn.Module:
    """The config's classifier with the tiny arch, every checkpoint of the config replaced by ``checkpoint``."""
    cfg = Config.fromfile(CONFIG_DIR / name)
    init_default_scope(cfg.default_scope)
    model = cfg.model
    model.backbone.update(arch=TINY_ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(checkpoint)))
    model.head.in_channels = TINY_ARCH['channels'][-1]
    if 'checkpoint' in model.head.init_cfg:
        model.head.init_cfg.checkpoint = str(checkpoint)
    classifier = MODELS.build(model)
    classifier.init_weights()
    return classifier


@pytest.mark.parametrize('size', ['b', 'l'])
def test_in1k_384_fine_tuning_loads_the_matching_head(size: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / 'official_1k.pth'
    state = _official_checkpoint(checkpoint, IN1K_CLASSES)
    classifier = _classifier(f'convnext_{size}_in1k-ft_30e_in1k_384.py', checkpoint)
    torch.testing.assert_close(classifier.head.fc.weight, state['head.weight'])
    torch.testing.assert_close(classifier.head.fc.bias, state['head.bias'])
    torch.testing.assert_close(classifier.backbone.norm3.weight, state['norm.weight'])


def test_a_head_of_another_shape_stays_new(tmp_path: Path) -> None:
    checkpoint = tmp_path / 'official_5_classes.pth'
    _official_checkpoint(checkpoint, 5)
    classifier = _classifier('convnext_b_in1k-ft_30e_in1k_384.py', checkpoint)
    weight = classifier.head.fc.weight
    assert weight.shape[0] == IN1K_CLASSES and 0 < weight.abs().max() < NEW_HEAD_MAX
    assert not classifier.head.fc.bias.any()


def test_in22k_fine_tuning_starts_a_new_head(tmp_path: Path) -> None:
    """IN-22K -> 1K: the 21841-class head cannot fit; the new head has init scale 0.001."""
    checkpoint = tmp_path / 'official_22k.pth'
    _official_checkpoint(checkpoint, 21841)
    classifier = _classifier('convnext_b_in22k-ft_30e_in1k.py', checkpoint)
    assert 0 < classifier.head.fc.weight.abs().max() < NEW_HEAD_MAX
