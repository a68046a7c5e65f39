"""The hosts' layer-decay configs with only ``constructor`` switched to ours.

Every config shipped in the installed mmdet, mmseg and mmpretrain packages that
uses the hosts' layer-decay constructors on a ConvNeXt backbone keeps its
``paramwise_cfg``; ours must give every parameter of that backbone (built on
its real depths and narrow widths) the lr and weight decay the host's own
constructor gives it. mmpretrain ships no such ConvNeXt config, so its
constructor is checked on ``mmpretrain.ConvNeXt`` with the ``paramwise_cfg``
of its own fine-tuning configs.
"""

import math
from pathlib import Path

import mmdet
import mmpretrain
import mmseg
import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from torch import nn

from convnext.engine import LayerDecayOptimWrapperConstructor

HOSTS = {'mmdet': mmdet, 'mmseg': mmseg, 'mmpretrain': mmpretrain}
HOST_CONSTRUCTORS = (
    'LearningRateDecayOptimizerConstructor',
    'LayerDecayOptimizerConstructor',
    'LearningRateDecayOptimWrapperConstructor',
)
NARROW_CHANNELS = [8, 16, 32, 64]
OPTIMIZER = dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
MMPRETRAIN_FINETUNE_PARAMWISE = dict(
    layer_decay_rate=0.65,
    custom_keys={
        '.ln': dict(decay_mult=0.0),
        '.bias': dict(decay_mult=0.0),
        '.cls_token': dict(decay_mult=0.0),
        '.pos_embed': dict(decay_mult=0.0),
    },
)
"""mmpretrain's MAE / BEiT fine-tuning ``paramwise_cfg``
(e.g. ``configs/mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py``)."""


def layer_decay_configs() -> list[tuple[str, Path]]:
    """``(host, config)`` for each shipped ConvNeXt config that names a host layer-decay constructor.

    Read as text (loading every config is slow): a config names it itself or inherits from one that does.
    """
    found = []
    for host, package in HOSTS.items():
        root = Path(package.__file__).parent / '.mim' / 'configs'
        texts = {path: path.read_text(encoding='utf-8') for path in sorted(root.rglob('*.py'))}
        texts = {path: text for path, text in texts.items() if 'convnext' in str(path.relative_to(root)).lower()}
        named = [path for path, text in texts.items() if any(c in text for c in HOST_CONSTRUCTORS)]
        inherited = [path for path, text in texts.items() if path not in named and any(b.name in text for b in named)]
        found += [(host, path) for path in sorted(named + inherited)]
    return found


CONFIGS = layer_decay_configs()


class HostModel(nn.Module):
    """A backbone and a head, answering mmpretrain's model-level ``get_layer_depth`` as ImageClassifier does."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(4, 2)

    def get_layer_depth(self, param_name: str) -> tuple[int, int]:
        return self.backbone.get_layer_depth(param_name, 'backbone.')


def build_host_model(host: str, backbone_cfg: dict) -> HostModel:
    """The config's backbone with its depths and narrow widths (no rule depends on the width), no checkpoint."""
    from mmpretrain.models import ConvNeXt as MMPretrainConvNeXt

    arch = backbone_cfg.get('arch', 'tiny')
    depths = arch['depths'] if isinstance(arch, dict) else MMPretrainConvNeXt.arch_settings[arch]['depths']
    narrow = dict(depths=depths, channels=NARROW_CHANNELS[: len(depths)])
    backbone_cfg = dict({k: v for k, v in backbone_cfg.items() if k != 'init_cfg'}, arch=narrow)
    with DefaultScope.overwrite_default_scope(host):
        return HostModel(MODELS.build(backbone_cfg))


def lr_and_decay(constructor: object, model: nn.Module) -> dict[str, tuple[float, float]]:
    """``name -> (lr, weight_decay)`` of every trainable parameter, from ``constructor.add_params``."""
    groups: list[dict] = []
    constructor.add_params(groups, model)
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay']) for g in groups for p in g['params']}


def assert_same(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for name, (lr, weight_decay) in expected.items():
        assert math.isclose(actual[name][0], lr, rel_tol=1e-12), (name, actual[name], expected[name])
        assert actual[name][1] == weight_decay, (name, actual[name], expected[name])


def test_the_hosts_ship_convnext_layer_decay_configs() -> None:
    names = {path.name for _, path in CONFIGS}
    # mmdet 3.3: Cascade T/S and Mask R-CNN T (configs/convnext), RTMDet-L with ConvNeXt-B; mmseg 1.2: six UperNet;
    # mmpretrain 1.2: the SparK ConvNeXt-V2-T fine-tuning.
    assert len(CONFIGS) == 11, sorted(names)
    assert 'cascade-mask-rcnn_convnext-s-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py' in names  # inherits it


@pytest.mark.parametrize(('host', 'path'), CONFIGS, ids=[f'{h}/{p.name}' for h, p in CONFIGS])
def test_host_config_with_our_constructor(host: str, path: Path) -> None:
    cfg = Config.fromfile(str(path))
    optim_wrapper = cfg.optim_wrapper.to_dict()
    assert 'ConvNeXt' in cfg.model.backbone.type, cfg.model.backbone.type
    model = build_host_model(host, cfg.model.backbone.to_dict())
    paramwise = optim_wrapper['paramwise_cfg']
    wrapper_cfg = dict(type='OptimWrapper', optimizer=OPTIMIZER)
    registry = HOSTS[host].registry.OPTIM_WRAPPER_CONSTRUCTORS
    host_constructor = registry.get(optim_wrapper['constructor'])(wrapper_cfg, dict(paramwise))
    expected = lr_and_decay(host_constructor, model)
    assert_same(lr_and_decay(LayerDecayOptimWrapperConstructor(wrapper_cfg, dict(paramwise)), model), expected)


@pytest.mark.parametrize('arch', ['atto', 'base'])
def test_mmpretrain_constructor_keys_on_mmpretrain_convnext(arch: str) -> None:
    from mmpretrain.engine import LearningRateDecayOptimWrapperConstructor

    backbone = dict(type='mmpretrain.ConvNeXt', arch=arch, use_grn=True, layer_scale_init_value=0.0)
    model = build_host_model('mmpretrain', backbone)
    wrapper_cfg = dict(type='OptimWrapper', optimizer=OPTIMIZER)
    expected = lr_and_decay(LearningRateDecayOptimWrapperConstructor(wrapper_cfg, MMPRETRAIN_FINETUNE_PARAMWISE), model)
    as_host = dict(MMPRETRAIN_FINETUNE_PARAMWISE, no_decay_rule='none')
    assert_same(lr_and_decay(LayerDecayOptimWrapperConstructor(wrapper_cfg, as_host), model), expected)
    # The default (official) rule differs only where ConvNeXt-V2 exempts a parameter mmpretrain decays.
    official = lr_and_decay(LayerDecayOptimWrapperConstructor(wrapper_cfg, MMPRETRAIN_FINETUNE_PARAMWISE), model)
    differ = {name for name in expected if official[name] != expected[name]}
    params = dict(model.named_parameters())
    exempt = {n for n, p in params.items() if p.ndim <= 1 or n.endswith(('.bias', '.gamma', '.beta'))}
    assert differ == {n for n in exempt if expected[n][1] > 0}
    assert all(official[n] == (expected[n][0], 0.0) for n in differ)
