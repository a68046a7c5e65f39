"""Rules of LayerDecayOptimWrapperConstructor against independent ports of the official code.

The expected layer ids, groups and weight decays are computed here by name
parsing, as the official ConvNeXt repositories do, never by calling the
backbone's ``get_layer_depth``. Full-size archs are built once per test
session and only their names and shapes are read.
"""

import functools
import math

import pytest
import torch
from mmcv.cnn import ConvModule
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ROOT_CONSTRUCTORS
from torch import nn

from convnext.engine import LayerDecayOptimWrapperConstructor
from convnext.engine.optimizers import UngroupableBackboneError, layer_decay
from convnext.models import ConvNeXt, ConvNeXtV2
from convnext.registry import OPTIM_WRAPPER_CONSTRUCTORS

BASE_LR = 1e-3
BASE_WD = 0.05
TINY_ARCH = {'depths': [1, 1, 3, 1], 'channels': [8, 16, 32, 64]}
TOKENS = ('backbone.cls_token', 'backbone.mask_token', 'backbone.pos_embed')


# ----------------------------------------------------------------------------
# Ports of the official id functions: ConvNeXt object_detection/mmcv_custom/layer_decay_optimizer_constructor.py
# (get_num_layer_layer_wise, get_num_layer_stage_wise) and ConvNeXt-V2 optim_factory.py (get_num_layer_for_convnext,
# layer_decay_type 'single' / 'group').
# ----------------------------------------------------------------------------
def official_layer_id(var_name: str, max_layer_id: int) -> int:
    """FB det/seg ``get_num_layer_layer_wise`` / mmdet ``get_layer_id_for_convnext``."""
    if var_name in TOKENS:
        return 0
    if var_name.startswith('backbone.downsample_layers'):
        stage_id = int(var_name.split('.')[2])
        return {0: 0, 1: 2, 2: 3, 3: max_layer_id}[stage_id]
    if var_name.startswith('backbone.stages'):
        stage_id = int(var_name.split('.')[2])
        block_id = int(var_name.split('.')[3])
        if stage_id == 2:
            return 3 + block_id // 3
        return {0: 1, 1: 2, 3: max_layer_id}[stage_id]
    return max_layer_id + 1


def official_stage_id(var_name: str, max_stage_id: int) -> int:
    """FB det/seg ``get_num_layer_stage_wise`` / mmdet ``get_stage_id_for_convnext`` (max = N + 2)."""
    if var_name in TOKENS or var_name.startswith('backbone.downsample_layers'):
        return 0
    if var_name.startswith('backbone.stages'):
        return int(var_name.split('.')[2]) + 1
    return max_stage_id - 1


def official_v2_single_id(var_name: str, depths: list[int]) -> int:
    """ConvNeXt-V2 optim_factory.py fine-tune ``single`` rule on classification names (no ``backbone.`` prefix)."""
    if var_name.startswith('downsample_layers'):
        return sum(depths[: int(var_name.split('.')[1])]) + 1
    if var_name.startswith('stages'):
        stage_id, block_id = int(var_name.split('.')[1]), int(var_name.split('.')[2])
        return sum(depths[:stage_id]) + block_id + 1
    return sum(depths) + 1


def official_v2_group_id(var_name: str) -> int:
    """ConvNeXt and ConvNeXt-V2 optim_factory.py ``get_num_layer_for_convnext`` (12 groups)."""
    num_max_layer = 12
    if var_name.startswith('downsample_layers'):
        stage_id = int(var_name.split('.')[1])
        return {0: 0, 1: 2, 2: 3, 3: num_max_layer}[stage_id]
    if var_name.startswith('stages'):
        stage_id, block_id = int(var_name.split('.')[1]), int(var_name.split('.')[2])
        if stage_id == 2:
            return 3 + block_id // 3
        return {0: 1, 1: 2, 3: num_max_layer}[stage_id]
    return num_max_layer + 1


def official_det_no_decay(name: str, param: nn.Parameter) -> bool:
    """FB det/seg rule (the ``('pos_embed', 'cls_token')`` tuple never matches prefixed names)."""
    return len(param.shape) == 1 or name.endswith('.bias') or name in ('pos_embed', 'cls_token')


def official_v2_no_decay(name: str, param: nn.Parameter) -> bool:
    """ConvNeXt-V2 optim_factory.py ``get_parameter_groups``: adds ``.gamma`` / ``.beta`` for the 4-D GRN parameters."""
    return len(param.shape) == 1 or name.endswith(('.bias', '.gamma', '.beta'))


def official_groups(model: nn.Module, layer_id_fn, no_decay_fn, num_layers: int, decay_rate: float) -> list[tuple]:
    """The official grouping loop: ``(group_name, param_names, lr_scale, weight_decay)`` in first-seen order."""
    groups: dict[str, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = no_decay_fn(name, param)
        layer_id = layer_id_fn(name)
        group_name = f'layer_{layer_id}_{"no_decay" if no_decay else "decay"}'
        if group_name not in groups:
            scale = decay_rate ** (num_layers + 2 - layer_id - 1)
            groups[group_name] = dict(names=[], lr_scale=scale, weight_decay=0.0 if no_decay else BASE_WD)
        groups[group_name]['names'].append(name)
    return [(name, g['names'], g['lr_scale'], g['weight_decay']) for name, g in groups.items()]


# ----------------------------------------------------------------------------
# Models and helpers.
# ----------------------------------------------------------------------------
class ToyModel(nn.Module):
    """A backbone plus a head, like a detector / segmentor / classifier."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Conv2d(2, 2, kernel_size=1, groups=2)


class PseudoDataParallel(nn.Module):
    """Stands for DDP: the model sits in ``.module``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.module = model


def build(model: nn.Module, optimizer_cfg: dict | None = None, wrapper_type: object = 'OptimWrapper', **paramwise):
    cfg = dict(
        type='OptimWrapper' if wrapper_type is None else wrapper_type,
        optimizer=optimizer_cfg or dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
    )
    return LayerDecayOptimWrapperConstructor(cfg, paramwise)(model)


def ours(optim_wrapper: OptimWrapper) -> list[tuple]:
    return [
        (g['group_name'], g['param_names'], g['lr_scale'], g['weight_decay'])
        for g in optim_wrapper.optimizer.param_groups
    ]


def assert_groups_equal(actual: list[tuple], expected: list[tuple]) -> None:
    assert [g[0] for g in actual] == [g[0] for g in expected]
    for (name, names, scale, wd), (_, exp_names, exp_scale, exp_wd) in zip(actual, expected, strict=True):
        assert names == exp_names, name
        assert math.isclose(scale, exp_scale, rel_tol=1e-12), name
        assert wd == exp_wd, name


def group_of(optim_wrapper: OptimWrapper) -> dict[str, dict]:
    return {n: g for g in optim_wrapper.optimizer.param_groups for n in g['param_names']}


@functools.cache
def full_model(backbone_cls: type = ConvNeXt, arch: str = 'tiny', with_token: bool = False) -> ToyModel:
    """A full-size arch with all four output norms (cached: only names and shapes are read)."""
    model = ToyModel(backbone_cls(arch=arch, out_indices=(0, 1, 2, 3)))
    if with_token:  # a 3-D token: id 0, no weight decay
        model.backbone.cls_token = nn.Parameter(torch.zeros(1, 1, model.backbone.channels[0]))
    return model


# ----------------------------------------------------------------------------
# T and B against the official det/seg rules.
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(('arch', 'num_layers'), [('tiny', 6), ('base', 12)])
@pytest.mark.parametrize(('decay_type', 'decay_rate'), [('layer_wise', 0.7), ('stage_wise', 0.9)])
@pytest.mark.parametrize('explicit', [False, True], ids=['default_num_layers', 'explicit_num_layers'])
def test_official_det_seg_rules(arch: str, num_layers: int, decay_type: str, decay_rate: float, explicit: bool) -> None:
    model = full_model(arch=arch, with_token=True)
    paramwise = dict(decay_rate=decay_rate, decay_type=decay_type, num_layers=num_layers if explicit else None)
    optim_wrapper = build(PseudoDataParallel(model), **paramwise)

    if decay_type == 'layer_wise':
        layer_id_fn = lambda name: official_layer_id(name, num_layers)  # noqa: E731
    else:
        layer_id_fn = lambda name: official_stage_id(name, num_layers + 2)  # noqa: E731
    # Ours also keeps tokens out of weight decay, whatever their shape.
    no_decay_fn = lambda name, p: official_det_no_decay(name, p) or name in TOKENS  # noqa: E731
    expected = official_groups(model, layer_id_fn, no_decay_fn, num_layers, decay_rate)
    actual = ours(optim_wrapper)
    assert_groups_equal(actual, expected)
    for group in optim_wrapper.optimizer.param_groups:
        assert math.isclose(group['lr'], BASE_LR * group['lr_scale'], rel_tol=1e-12)
    assert sum(len(g['params']) for g in optim_wrapper.optimizer.param_groups) == len(list(model.parameters()))


# Worked values of the layer_wise / stage_wise rules above: decay_rate ** (num_layers + 1 - layer_id), 3 decimals.
WORKED_SCALES = {
    ('tiny', 'layer_wise', 0.7): [0.082, 0.118, 0.168, 0.240, 0.343, 0.490, 0.700, 1.0],
    ('tiny', 'stage_wise', 0.9): [0.478, 0.531, 0.590, 0.656, 0.729, 1.0],
    ('base', 'stage_wise', 0.9): [0.254, 0.282, 0.314, 0.349, 0.387, 1.0],
}


@pytest.mark.parametrize(('arch', 'decay_type', 'decay_rate'), list(WORKED_SCALES))
def test_worked_scales(arch: str, decay_type: str, decay_rate: float) -> None:
    optim_wrapper = build(full_model(arch=arch), decay_rate=decay_rate, decay_type=decay_type)
    scales = sorted({round(g['lr_scale'], 3) for g in optim_wrapper.optimizer.param_groups})
    assert scales == WORKED_SCALES[(arch, decay_type, decay_rate)]


# ----------------------------------------------------------------------------
# ConvNeXt V2 fine-tuning rules: single and group, GRN gamma/beta without decay.
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(('arch', 'decay_type'), [('atto', 'single'), ('tiny', 'single'), ('base', 'group')])
def test_official_v2_rules(arch: str, decay_type: str) -> None:
    decay_rate = 0.9 if decay_type == 'single' else 0.6
    model = full_model(ConvNeXtV2, arch=arch)
    depths = model.backbone.depths
    num_layers = sum(depths) if decay_type == 'single' else 12
    optim_wrapper = build(model, decay_rate=decay_rate, decay_type=decay_type)

    def layer_id_fn(name: str) -> int:
        if not name.startswith('backbone.'):
            return num_layers + 1
        short = name[len('backbone.') :]
        return official_v2_single_id(short, depths) if decay_type == 'single' else official_v2_group_id(short)

    expected = official_groups(model, layer_id_fn, official_v2_no_decay, num_layers, decay_rate)
    assert_groups_equal(ours(optim_wrapper), expected)
    groups = group_of(optim_wrapper)
    grn_gamma = 'backbone.stages.0.0.grn.gamma'
    assert model.get_parameter(grn_gamma).ndim == 4 and groups[grn_gamma]['weight_decay'] == 0.0
    if decay_type == 'single':
        assert groups['backbone.downsample_layers.0.0.weight']['group_name'] == 'layer_1_decay'  # stem shares id 1


# ----------------------------------------------------------------------------
# The unit-test oracle of mmdet tests/test_engine/test_optimizers/test_layer_decay_optimizer_constructor.py
# (identical in mmseg tests/test_engine/test_layer_decay_optimizer_constructor.py).
# ----------------------------------------------------------------------------
ORACLE_STAGE_WISE = [
    (0, 128), (0, 1), (0.05, 64), (0, 64), (0.05, 32), (0, 32),
    (0.05, 16), (0, 16), (0.05, 8), (0, 8), (0.05, 128), (0.05, 1),
]  # fmt: skip
ORACLE_LAYER_WISE = ORACLE_STAGE_WISE[:8] + [(0.05, 2), (0, 2)] + ORACLE_STAGE_WISE[10:]


class ToyConvNeXt(nn.Module):
    """The oracle's toy backbone, answering ``get_layer_depth`` with the official id functions."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList(nn.Sequential(ConvModule(3, 4, kernel_size=1, bias=True)) for _ in range(4))
        self.norm0 = nn.BatchNorm2d(2)
        self.cls_token = nn.Parameter(torch.ones(1))
        self.mask_token = nn.Parameter(torch.ones(1))
        self.pos_embed = nn.Parameter(torch.ones(1))
        self.stem_norm = nn.Parameter(torch.ones(1))
        self.downsample_norm0 = nn.BatchNorm2d(2)
        self.downsample_norm1 = nn.BatchNorm2d(2)
        self.downsample_norm2 = nn.BatchNorm2d(2)
        self.lin = nn.Parameter(torch.ones(1), requires_grad=False)
        self.downsample_layers = nn.ModuleList(nn.Sequential(nn.Conv2d(3, 4, kernel_size=1)) for _ in range(4))

    def get_layer_depth(self, param_name: str, prefix: str, decay_type: str, num_layers: int) -> tuple[int, int]:
        assert prefix == 'backbone.'
        if decay_type == 'layer_wise':
            return official_layer_id(param_name, num_layers), num_layers + 2
        return official_stage_id(param_name, num_layers + 2), num_layers + 2


@pytest.mark.parametrize(
    ('decay_type', 'expected'), [('stage_wise', ORACLE_STAGE_WISE), ('layer_wise', ORACLE_LAYER_WISE)]
)
def test_oracle(decay_type: str, expected: list[tuple]) -> None:
    model = PseudoDataParallel(ToyModel(ToyConvNeXt()))
    optimizer_cfg = dict(type='AdamW', lr=1, betas=(0.9, 0.999), weight_decay=0.05)
    optim_wrapper = build(model, optimizer_cfg, decay_rate=2, decay_type=decay_type, num_layers=6)
    optimizer = optim_wrapper.optimizer
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults['lr'] == 1 and optimizer.defaults['weight_decay'] == 0.05
    assert [(g['weight_decay'], g['lr_scale']) for g in optimizer.param_groups] == expected
    assert all(g['lr'] == g['lr_scale'] for g in optimizer.param_groups)
    assert 'backbone.lin' not in group_of(optim_wrapper)


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------
def test_too_small_num_layers_raises() -> None:
    with pytest.raises(ValueError, match=r"num_layers=6 .*'backbone\.stages\.2\.24\..*layer id 11.*num_layers >= 10"):
        build(full_model(arch='base'), decay_rate=0.7, decay_type='layer_wise', num_layers=6)
    with pytest.raises(ValueError, match=r"num_layers=2 .*'backbone\.stages\.3\.0\..*layer id 4.*num_layers >= 3"):
        build(full_model(arch='tiny'), decay_rate=0.9, decay_type='stage_wise', num_layers=2)
    # A larger num_layers than needed is fine: unused ids (official behaviour).
    build(full_model(arch='tiny'), decay_rate=0.7, decay_type='layer_wise', num_layers=12)


class BlocksStages(nn.Module):
    """``stages.<i>.blocks.<j>`` (a Swin-like layout): not the ConvNeXt naming."""

    def __init__(self) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Conv2d(2, 2, 1)])
        self.stages = nn.ModuleList([nn.Module()])
        self.stages[0].blocks = nn.ModuleList([nn.Conv2d(2, 2, 1)])


@pytest.mark.parametrize(
    ('model', 'match'),
    [
        (nn.Linear(2, 2), "needs a backbone at 'backbone' of Linear, which has no submodule 'backbone'"),
        (
            ToyModel(nn.Conv2d(2, 2, 1)),
            r"the backbone Conv2d at 'backbone': it has no get_layer_depth\(param_name, prefix.*"
            r"its parameters are not named like ConvNeXt \('downsample_layers.<i>.…' and 'stages.<i>.<j>.…'\), "
            r"nor like a ViT \('layers.<i>.…'\); its parameters: 'weight', 'bias'$",
        ),
        (
            ToyModel(BlocksStages()),
            r"its parameter 'stages.0.blocks.0.weight' is not named like ConvNeXt \(stages.<i>.<j>.…\)",
        ),
    ],
    ids=['no_backbone', 'no_rule_for_conv2d', 'stages_with_blocks'],
)
def test_backbone_that_cannot_be_grouped_raises(model: nn.Module, match: str) -> None:
    # One error, both a TypeError and the NotImplementedError mmdet, mmseg and mmpretrain raise.
    with pytest.raises(UngroupableBackboneError, match=match) as error:
        build(model, decay_rate=0.7)
    assert isinstance(error.value, TypeError) and isinstance(error.value, NotImplementedError)
    assert '\n' not in str(error.value)


@pytest.mark.parametrize(
    ('paramwise', 'match'),
    [
        ({}, 'decay_rate is required'),
        (dict(decay_rate=-0.5), 'decay_rate must be a positive number'),
        (dict(layer_decay_rate=-0.5), 'decay_rate must be a positive number'),
        (dict(decay_rate=0.7, num_layers=0), 'num_layers must be None or a positive int'),
        (
            dict(decay_rate=0.7, layer_decay_rate=0.8),
            r'decay_rate=0.7 and paramwise_cfg.layer_decay_rate=0.8 disagree; .*give one',
        ),
        (dict(decay_rate=0.7, dcn_offset_lr_mult=0.1), r"Unknown paramwise_cfg keys \['dcn_offset_lr_mult'\]"),
        (dict(decay_rate=0.7, backbone_prefix='backbone'), "backbone_prefix must be '' or end with '.'"),
        (
            dict(decay_rate=0.7, no_decay_rule='mmdet'),
            r"no_decay_rule must be one of \('convnext_v2', 'convnext_v1', 'none'\), got 'mmdet'",
        ),
        (dict(decay_rate=0.7, group_by='stage'), r"group_by must be one of \('layer', 'param'\), got 'stage'"),
    ],
)
def test_bad_paramwise_cfg_raises(paramwise: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LayerDecayOptimWrapperConstructor(dict(optimizer=dict(type='AdamW', lr=BASE_LR)), paramwise)


def test_unknown_decay_type_raises() -> None:
    with pytest.raises(ValueError, match="Unknown decay_type 'block_wise'"):
        build(full_model(arch='tiny'), decay_rate=0.7, decay_type='block_wise')


# ----------------------------------------------------------------------------
# mmengine options on top, frozen parameters, prefixes, registry and wrappers.
# ----------------------------------------------------------------------------
class TinyHostModel(nn.Module):
    """Tiny ConvNeXt V2 (GRN) with layer scale, a BN neck and a linear head."""

    def __init__(self, frozen_stages: int = 0) -> None:
        super().__init__()
        self.backbone = ConvNeXt(
            TINY_ARCH, use_grn=True, frozen_stages=frozen_stages, out_indices=(0, 1, 2, 3), out_type='featmap'
        )
        self.neck = nn.BatchNorm2d(64)
        self.head = nn.Linear(64, 3)


def test_custom_keys_and_decay_mults() -> None:
    model = TinyHostModel()
    plain = group_of(build(model, decay_rate=0.5))
    optim_wrapper = build(
        model,
        decay_rate=0.5,
        custom_keys={'backbone.stages.0': dict(lr_mult=0.1, decay_mult=0.2), 'head.bias': dict(lr_mult=3.0)},
        norm_decay_mult=0.5,
        bias_decay_mult=0.3,
        dwconv_decay_mult=0.4,
        flat_decay_mult=0.7,
        bias_lr_mult=2.0,
    )
    groups = group_of(optim_wrapper)
    names = [n for n, _ in model.named_parameters()]
    assert sorted(groups) == sorted(names) and len(groups) == len(names)

    def check(name: str, lr_mult: float, decay: float) -> None:
        assert math.isclose(groups[name]['lr'], plain[name]['lr'] * lr_mult, rel_tol=1e-12), name
        assert math.isclose(groups[name]['weight_decay'], decay, rel_tol=1e-12), name

    # custom_keys win over everything; their decay_mult applies even to biases and GRN.
    for name in names:
        if name.startswith('backbone.stages.0.'):
            check(name, 0.1, BASE_WD * 0.2)
            assert groups[name]['group_name'] == 'layer_1_decay_backbone.stages.0'
    check('head.bias', 3.0, 0.0)  # no decay_mult in the key: official rule (bias: no decay)
    assert groups['head.bias']['group_name'] == 'layer_7_no_decay_head.bias'
    # norm > bias > dwconv > flat, as mmengine; bias_lr_mult skips norm biases.
    check('backbone.stages.1.0.norm.weight', 1.0, BASE_WD * 0.5)
    check('backbone.stages.1.0.norm.bias', 1.0, BASE_WD * 0.5)
    check('neck.weight', 1.0, BASE_WD * 0.5)
    check('backbone.stages.1.0.pwconv1.bias', 2.0, BASE_WD * 0.3)
    check('backbone.stages.1.0.dwconv.weight', 1.0, BASE_WD * 0.4)
    check('backbone.stages.1.0.dwconv.bias', 2.0, BASE_WD * 0.3)
    check('backbone.stages.1.0.gamma', 1.0, BASE_WD * 0.7)
    # No option matches: the official rule.
    check('backbone.stages.1.0.grn.gamma', 1.0, 0.0)
    check('backbone.stages.1.0.pwconv1.weight', 1.0, BASE_WD)
    check('head.weight', 1.0, BASE_WD)
    group_names = [g['group_name'] for g in optim_wrapper.optimizer.param_groups]
    assert len(group_names) == len(set(group_names))


def test_official_no_decay_defaults() -> None:
    groups = group_of(build(TinyHostModel(), decay_rate=0.5))
    for name in ('stages.0.0.gamma', 'stages.0.0.grn.gamma', 'stages.0.0.grn.beta', 'stages.0.0.pwconv1.bias'):
        assert groups[f'backbone.{name}']['weight_decay'] == 0.0
    for name in ('stages.0.0.pwconv1.weight', 'stages.0.0.dwconv.weight', 'downsample_layers.0.0.weight'):
        assert groups[f'backbone.{name}']['weight_decay'] == BASE_WD


def test_frozen_parameters_skipped() -> None:
    model = TinyHostModel(frozen_stages=1)
    optim_wrapper = build(model, decay_rate=0.5)
    groups = group_of(optim_wrapper)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(('backbone.stages.0.', 'backbone.downsample_layers.0.')) for n in frozen)
    assert not set(frozen) & set(groups)
    assert len(groups) == len(list(model.parameters())) - len(frozen)


def test_backbone_prefix_and_missing_weight_decay() -> None:
    backbone = ConvNeXt(TINY_ARCH)
    optim_wrapper = build(backbone, dict(type='AdamW', lr=BASE_LR), decay_rate=0.5, backbone_prefix='')
    groups = group_of(optim_wrapper)
    assert groups['stages.3.0.pwconv1.weight']['group_name'] == 'layer_6_decay'
    assert groups['norm3.weight']['lr_scale'] == 1.0
    adamw_default = torch.optim.AdamW([nn.Parameter(torch.zeros(1))]).defaults['weight_decay']
    assert groups['stages.3.0.pwconv1.weight']['weight_decay'] == adamw_default


class TwoArgBackbone(nn.Module):
    """mmpretrain's protocol: ``get_layer_depth(param_name, prefix)`` only."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))

    def get_layer_depth(self, param_name: str, prefix: str = '') -> tuple[int, int]:
        name = param_name[len(prefix) :] if param_name.startswith(prefix) else None
        layer_id = int(name.split('.')[1]) + 1 if name else 3
        return layer_id, 4


def test_two_argument_get_layer_depth() -> None:
    model = ToyModel(TwoArgBackbone())
    groups = group_of(build(model, decay_rate=2.0))
    assert groups['backbone.layers.0.weight']['lr_scale'] == 4.0
    assert groups['backbone.layers.1.weight']['lr_scale'] == 2.0
    assert groups['head.weight']['lr_scale'] == 1.0
    with pytest.raises(ValueError, match='takes no decay_type or num_layers'):
        build(model, decay_rate=2.0, decay_type='stage_wise')


def test_registry_wrapper_type_and_training_step(caplog: pytest.LogCaptureFixture) -> None:
    assert OPTIM_WRAPPER_CONSTRUCTORS.get('LayerDecayOptimWrapperConstructor') is LayerDecayOptimWrapperConstructor
    assert ROOT_CONSTRUCTORS.get('convnext.LayerDecayOptimWrapperConstructor') is LayerDecayOptimWrapperConstructor

    class MyOptimWrapper(OptimWrapper):
        pass

    model = TinyHostModel()
    optim_wrapper = build(model, wrapper_type=MyOptimWrapper, decay_rate=0.5)
    assert type(optim_wrapper) is MyOptimWrapper
    before = model.backbone.downsample_layers[0][0].weight.detach().clone()
    features = model.backbone(torch.randn(2, 3, 32, 32))[-1]
    loss = model.head(model.neck(features).mean(dim=(2, 3))).square().mean()
    optim_wrapper.update_params(loss)
    assert not torch.equal(before, model.backbone.downsample_layers[0][0].weight)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU refusal of AmpOptimWrapper')
def test_amp_wrapper_type_is_respected_on_cpu() -> None:
    # mmengine's AmpOptimWrapper refuses CPU-only machines: the constructor did try to build it.
    with pytest.raises(AssertionError, match=r'Amp\w*Wrapper.*only available'):
        build(TinyHostModel(), wrapper_type='AmpOptimWrapper', decay_rate=0.5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='AmpOptimWrapper needs CUDA')
def test_amp_optim_wrapper_on_cuda() -> None:
    from mmengine.optim import AmpOptimWrapper

    model = TinyHostModel().cuda()
    optim_wrapper = build(model, wrapper_type='AmpOptimWrapper', decay_rate=0.5)
    assert isinstance(optim_wrapper, AmpOptimWrapper)
    with optim_wrapper.optim_context(model):
        features = model.backbone(torch.randn(2, 3, 32, 32, device='cuda'))[-1]
        loss = model.head(model.neck(features).mean(dim=(2, 3))).float().square().mean()
    optim_wrapper.update_params(loss)
    assert group_of(optim_wrapper)['head.weight']['lr'] == BASE_LR


def test_groups_logged_once_as_table(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = []
    monkeypatch.setattr(layer_decay, 'print_log', lambda msg, **kwargs: messages.append(msg))
    optim_wrapper = build(TinyHostModel(), decay_rate=0.5)
    assert len(messages) == 1
    lines = messages[0].splitlines()
    assert len(lines) == len(optim_wrapper.optimizer.param_groups) + 2  # title, header, one row per group
    assert lines[1].split() == ['group', 'id', 'lr_scale', 'weight_decay', 'tensors', 'elements']
    first = optim_wrapper.optimizer.param_groups[0]
    assert lines[2].split()[:2] == [first['group_name'], str(first['layer_id'])]


# ----------------------------------------------------------------------------
# Backbones without our get_layer_depth: grouped by their parameter names.
# ----------------------------------------------------------------------------
@functools.cache
def mmpretrain_model(arch: str, use_grn: bool = False) -> ToyModel:
    """``mmpretrain.ConvNeXt`` (its own names: ``depthwise_conv``, ``pointwise_conv1``, ``norm{i}``) plus a head."""
    from mmpretrain.models import ConvNeXt as MMPretrainConvNeXt

    kwargs = dict(use_grn=True, layer_scale_init_value=0.0) if use_grn else {}
    return ToyModel(MMPretrainConvNeXt(arch=arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False, **kwargs))


@pytest.mark.parametrize('arch', ['tiny', 'base'])
@pytest.mark.parametrize(
    ('decay_type', 'decay_rate'), [('layer_wise', 0.7), ('stage_wise', 0.9), ('single', 0.9), ('group', 0.6)]
)
def test_mmpretrain_convnext_gets_the_official_rules(arch: str, decay_type: str, decay_rate: float) -> None:
    model = mmpretrain_model(arch)
    depths = model.backbone.depths
    num_layers = {'single': sum(depths), 'group': 12}.get(decay_type, 6 if arch == 'tiny' else 12)

    def layer_id_fn(name: str) -> int:
        if decay_type == 'stage_wise':
            return official_stage_id(name, num_layers + 2)
        if decay_type in ('layer_wise', 'group'):
            return official_layer_id(name, num_layers)
        short = name[len('backbone.') :] if name.startswith('backbone.') else 'head'
        return official_v2_single_id(short, depths)

    expected = official_groups(model, layer_id_fn, official_v2_no_decay, num_layers, decay_rate)
    assert_groups_equal(ours(build(model, decay_rate=decay_rate, decay_type=decay_type)), expected)
    # Our backbone of the same arch: the same groups, position by position (only the module names differ).
    ours_groups = build(full_model(arch=arch), decay_rate=decay_rate, decay_type=decay_type).optimizer.param_groups
    mmpretrain_groups = build(model, decay_rate=decay_rate, decay_type=decay_type).optimizer.param_groups
    assert [summary(g) for g in ours_groups] == [summary(g) for g in mmpretrain_groups]


def summary(group: dict) -> tuple:
    return group['group_name'], group['lr_scale'], group['weight_decay'], [tuple(p.shape) for p in group['params']]


def test_mmpretrain_convnext_num_layers_and_its_own_rule() -> None:
    model = mmpretrain_model('tiny')
    # Its own get_layer_depth(param_name, prefix) takes no num_layers; the name rule does.
    groups = group_of(build(model, decay_rate=0.5, decay_type='layer_wise', num_layers=12))
    assert groups['backbone.stages.3.0.pointwise_conv1.weight']['layer_id'] == 12
    assert groups['backbone.norm3.weight']['layer_id'] == 13
    # With the defaults, the ids equal mmpretrain's own layer_wise rule.
    defaults = group_of(build(model, decay_rate=0.5))
    for name, _ in model.named_parameters():
        assert defaults[name]['layer_id'] == model.backbone.get_layer_depth(name, 'backbone.')[0], name


@pytest.mark.parametrize(
    ('rule', 'grn_decayed', 'norm_decayed'),
    [('convnext_v2', False, False), ('convnext_v1', True, False), ('none', True, True)],
)
def test_no_decay_rules(rule: str, grn_decayed: bool, norm_decayed: bool) -> None:
    model = TinyHostModel()
    groups = group_of(build(model, decay_rate=0.5, no_decay_rule=rule))
    grn = 'backbone.stages.0.0.grn.gamma'
    assert model.get_parameter(grn).ndim == 4  # the ConvNeXt-V2 layout; 1-D ones are exempt under both official rules
    assert groups[grn]['weight_decay'] == (BASE_WD if grn_decayed else 0.0)
    assert groups['backbone.norm3.weight']['weight_decay'] == (BASE_WD if norm_decayed else 0.0)
    assert groups['backbone.stages.0.0.pwconv1.bias']['weight_decay'] == (BASE_WD if norm_decayed else 0.0)
    assert groups['backbone.stages.0.0.pwconv1.weight']['weight_decay'] == BASE_WD
    # The mmengine options still decide first.
    flat = group_of(build(model, decay_rate=0.5, no_decay_rule=rule, flat_decay_mult=0.0, bias_decay_mult=0.0))
    assert flat['backbone.norm3.weight']['weight_decay'] == 0.0
    assert flat['backbone.stages.0.0.pwconv1.bias']['weight_decay'] == 0.0


def test_layer_decay_rate_and_group_by_param() -> None:
    model = mmpretrain_model('atto')
    merged = build(model, decay_rate=0.5).optimizer.param_groups
    per_param = build(model, layer_decay_rate=0.5, group_by='param').optimizer.param_groups
    names = [n for n, _ in model.named_parameters()]
    assert [g['param_name'] for g in per_param] == names
    assert all(len(g['params']) == 1 and 'param_names' not in g for g in per_param)
    by_name = {n: g for g in merged for n in g['param_names']}
    for group in per_param:
        same = by_name[group['param_name']]
        assert (group['lr'], group['weight_decay'], group['layer_id']) == (
            same['lr'],
            same['weight_decay'],
            same['layer_id'],
        )
    assert len(merged) < len(per_param)


class ToyViTNames(nn.Module):
    """mmseg's BEiT / MAE naming: tokens, ``patch_embed`` and ``layers.<i>``, no get_layer_depth."""

    def __init__(self, num_layers: int = 3) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.patch_embed = nn.Conv2d(3, 4, 2)
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(num_layers))
        self.norm = nn.LayerNorm(4)


def test_vit_names_follow_mmseg_rule() -> None:
    model = ToyModel(ToyViTNames())
    groups = group_of(build(model, decay_rate=2.0))
    expected = {
        'backbone.cls_token': 0,
        'backbone.patch_embed.weight': 0,
        'backbone.layers.0.weight': 1,
        'backbone.layers.2.bias': 3,
        'backbone.norm.weight': 4,
        'head.weight': 4,
    }
    for name, layer_id in expected.items():
        assert groups[name]['layer_id'] == layer_id, name
        assert groups[name]['lr_scale'] == 2.0 ** (4 - layer_id), name
    assert groups['backbone.cls_token']['weight_decay'] == 0.0  # a 3-D token: no decay
    with pytest.raises(NotImplementedError, match=r"decay_type='stage_wise' needs a backbone named like ConvNeXt"):
        build(model, decay_rate=2.0, decay_type='stage_wise')


def test_name_rule_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown decay_type 'per_pixel'; expected one of \('layer_wise'"):
        build(mmpretrain_model('atto'), decay_rate=0.5, decay_type='per_pixel')
    five_stages = ToyModel(nn.Module())
    five_stages.backbone.downsample_layers = nn.ModuleList(nn.Conv2d(2, 2, 1) for _ in range(5))
    five_stages.backbone.stages = nn.ModuleList(nn.Sequential(nn.Conv2d(2, 2, 1)) for _ in range(5))
    with pytest.raises(ValueError, match=r"for 4 stages; parameter 'downsample_layers.4.weight' is in stage 4"):
        build(five_stages, decay_rate=0.5)
    assert (
        group_of(build(five_stages, decay_rate=0.5, decay_type='stage_wise'))['backbone.stages.4.0.weight']['layer_id']
        == 5
    )


def test_bypass_duplicate() -> None:
    model = TinyHostModel()
    model.tied = nn.Linear(64, 3)
    model.tied.weight = model.head.weight  # shared by two modules
    with pytest.raises(ValueError, match=r"'tied.weight' is 'head.weight' \(shared by two modules\); set .*bypass_dup"):
        build(model, decay_rate=0.5)
    groups = build(model, decay_rate=0.5, bypass_duplicate=True).optimizer.param_groups
    names = [n for g in groups for n in g['param_names']]
    assert 'head.weight' in names and 'tied.weight' not in names and 'tied.bias' in names
