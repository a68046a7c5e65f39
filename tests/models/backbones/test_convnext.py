"""ConvNeXt V1/V2 backbone: shapes, sizes, options, mmpretrain's arguments and outputs, init, layer ids, registries,
fast paths."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmpretrain_reference import randomise_scales_and_norms
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from convnext.models import ConvNeXt, ConvNeXtV2
from convnext.models.backbones.convnext import BackboneArgumentError
from convnext.models.backbones.fast_paths import fast_paths
from convnext.models.layers import DropPath, LayerNorm2d

SMALL_ARCH = {'depths': [1, 2, 2, 1], 'channels': [8, 16, 32, 64]}
CHEAP_ARCHS = ('atto', 'femto', 'pico', 'nano', 'tiny')
ALL_ARCHS = tuple(ConvNeXt.arch_settings)
NUM_CLASSES = 1000
STRIDES = (4, 8, 16, 32)
TOL = 1e-5

# Papers' parameter counts (millions) with a 1000-class head, and the
# number of decimals they are given to.
V1_PARAMS_M = {'tiny': (28.6, 1), 'small': (50.2, 1), 'base': (88.6, 1), 'large': (197.8, 1), 'xlarge': (350.2, 1)}
V2_PARAMS_M = {
    'atto': (3.7, 1),
    'femto': (5.2, 1),
    'pico': (9.1, 1),
    'nano': (15.6, 1),
    'tiny': (28.6, 1),
    'base': (89, 0),
    'large': (198, 0),
    'huge': (660, 0),
}
# Papers' multiply-adds (G) at 224 with the 1000-class head: V1 paper Table 1 (S, B, L, XL; T is 4.5 there),
# V2 paper Table 14 (A ... H, and V1-T to three digits).
V1_GMACS_224 = {'tiny': 4.47, 'small': 8.7, 'base': 15.4, 'large': 34.4, 'xlarge': 60.9}
V2_GMACS_224 = {
    'atto': 0.55,
    'femto': 0.78,
    'pico': 1.37,
    'nano': 2.45,
    'tiny': 4.47,
    'base': 15.4,
    'large': 34.4,
    'huge': 115.0,
}
GMACS_REL_TOL = 0.01


def with_random_weights(model: ConvNeXt) -> ConvNeXt:
    """Non-trivial layer scale, GRN and norm parameters, so that every term counts."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(('gamma', 'beta')) or 'norm' in name:
                param.normal_(0.5, 0.3)
    return model


def count_params_with_head(model: ConvNeXt) -> int:
    """Backbone parameters (out_indices=-1: norm3 is the head norm) plus Linear(C, 1000)."""
    return sum(p.numel() for p in model.parameters()) + model.channels[-1] * NUM_CLASSES + NUM_CLASSES


# --------------------------------------------------------------------------- shapes and sizes


@pytest.mark.parametrize('arch', CHEAP_ARCHS)
def test_feature_map_shapes(arch: str) -> None:
    model = ConvNeXt(arch, out_indices=(0, 1, 2, 3), out_type='featmap').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 32))
    channels = ConvNeXt.arch_settings[arch]['channels']
    assert [tuple(o.shape) for o in outs] == [(1, c, 32 // s, 32 // s) for c, s in zip(channels, STRIDES, strict=True)]


@pytest.mark.parametrize('arch', ALL_ARCHS)
def test_shapes_of_every_arch_at_224_on_meta(arch: str) -> None:
    with torch.device('meta'):
        model = ConvNeXtV2(arch, out_indices=(0, 1, 2, 3), out_type='featmap')
        outs = model(torch.empty(2, 3, 224, 224))
        pooled = ConvNeXt(arch, out_type='avg')(torch.empty(2, 3, 224, 224))
    channels = ConvNeXt.arch_settings[arch]['channels']
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 224 // s, 224 // s) for c, s in zip(channels, STRIDES, strict=True)
    ]
    assert tuple(pooled[0].shape) == (2, channels[-1])


@pytest.mark.parametrize(('cls', 'table'), [(ConvNeXt, V1_PARAMS_M), (ConvNeXtV2, V2_PARAMS_M)])
def test_parameter_counts_match_papers(cls: type, table: dict) -> None:
    for arch, (millions, decimals) in table.items():
        with torch.device('meta'):
            model = cls(arch)
        assert round(count_params_with_head(model) / 1e6, decimals) == millions, arch


@pytest.mark.parametrize(
    ('cls', 'arch', 'paper_gmacs'),
    [(ConvNeXt, arch, gmacs) for arch, gmacs in V1_GMACS_224.items()]
    + [(ConvNeXtV2, arch, gmacs) for arch, gmacs in V2_GMACS_224.items()],
)
def test_multiply_adds_at_224_match_papers(cls: type, arch: str, paper_gmacs: float) -> None:
    """All 13 variants, eval mode under no_grad (where a fused inference kernel would hide work from the counter)."""
    with torch.device('meta'):
        model = cls(arch, out_type='avg').eval()
        head = nn.Linear(model.channels[-1], NUM_CLASSES)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            head(model(torch.empty(1, 3, 224, 224))[0])
    gmacs = counter.get_total_flops() / 2e9  # the counter reports 2 FLOPs per multiply-add
    assert gmacs == pytest.approx(paper_gmacs, rel=GMACS_REL_TOL)


# --------------------------------------------------------------------------- options


def test_negative_out_indices_and_caller_list_untouched() -> None:
    indices = [-1, 0, -3]
    model = ConvNeXt(SMALL_ARCH, out_indices=indices)
    assert indices == [-1, 0, -3]
    assert model.out_indices == (0, 1, 3)
    assert {name for name, _ in model.named_children() if name.startswith('norm')} == {'norm0', 'norm1', 'norm3'}
    outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [8, 16, 64]


def test_avg_output_is_head_norm_after_global_pooling() -> None:
    model = with_random_weights(ConvNeXt(SMALL_ARCH, out_type='avg')).eval()
    last = []
    model.stages[3].register_forward_hook(lambda module, args, out: last.append(out))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (pooled,) = model(x)
    expected = F.layer_norm(last[0].mean(dim=(2, 3)), (64,), model.norm3.weight, model.norm3.bias, 1e-6)
    assert pooled.shape == (2, 64)
    torch.testing.assert_close(pooled, expected, atol=TOL, rtol=TOL)


def test_frozen_stages_are_in_eval_without_grad_after_train() -> None:
    model = ConvNeXt(SMALL_ARCH, frozen_stages=2, drop_path_rate=0.1)
    model.train()
    for i in range(4):
        frozen = i < 2
        for module in (model.downsample_layers[i], model.stages[i]):
            assert all(m.training != frozen for m in module.modules())
            assert all(p.requires_grad != frozen for p in module.parameters())
    assert model.norm3.training and model.norm3.weight.requires_grad


def test_with_cp_gives_same_outputs_and_gradients() -> None:
    plain = with_random_weights(ConvNeXt(SMALL_ARCH, out_indices=(1, 3)))
    checkpointed = ConvNeXt(SMALL_ARCH, out_indices=(1, 3), with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, checkpointed):
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1), requires_grad=True)
        outs = model(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append([x.grad] + [p.grad for p in model.parameters()])
        grads[-1].append(torch.cat([o.flatten() for o in outs]))
    for ours, reference in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours, reference, atol=TOL, rtol=TOL)


def test_convnext_v2_defaults() -> None:
    model = ConvNeXtV2(SMALL_ARCH)
    block = model.stages[0][0]
    assert model.use_grn and block.grn is not None and block.gamma is None
    assert block.grn.gamma.shape == (1, 1, 1, 32)
    v1_block = ConvNeXt(SMALL_ARCH).stages[0][0]
    assert v1_block.grn is None and torch.equal(v1_block.gamma, torch.full((8,), 1e-6))


def test_drop_path_rates_are_linear_over_all_blocks() -> None:
    model = ConvNeXt(SMALL_ARCH, drop_path_rate=0.3)
    blocks = [block for stage in model.stages for block in stage]
    rates = [block.drop_path.drop_prob if isinstance(block.drop_path, DropPath) else 0.0 for block in blocks]
    assert rates == pytest.approx(torch.linspace(0, 0.3, len(blocks)).tolist())


def test_init_weights() -> None:
    model = ConvNeXt('atto')
    model.init_weights()
    weight = model.stages[2][0].pwconv1.weight
    assert weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert weight.mean().item() == pytest.approx(0.0, abs=1e-3)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert torch.count_nonzero(module.bias) == 0
        if isinstance(module, nn.LayerNorm):
            assert torch.all(module.weight == 1) and torch.count_nonzero(module.bias) == 0
    assert torch.all(model.stages[0][0].gamma == 1e-6)


@pytest.mark.parametrize(
    ('arch', 'name', 'decay_type', 'expected'),
    [
        ('tiny', 'backbone.downsample_layers.0.0.weight', 'layer_wise', (0, 8)),
        ('tiny', 'backbone.stages.0.2.pwconv1.weight', 'layer_wise', (1, 8)),
        ('tiny', 'backbone.downsample_layers.1.1.weight', 'layer_wise', (2, 8)),
        ('tiny', 'backbone.stages.2.4.dwconv.weight', 'layer_wise', (4, 8)),
        ('tiny', 'backbone.stages.2.8.dwconv.weight', 'layer_wise', (5, 8)),
        ('tiny', 'backbone.stages.3.0.gamma', 'layer_wise', (6, 8)),
        ('tiny', 'backbone.norm3.weight', 'layer_wise', (7, 8)),
        ('tiny', 'head.fc.weight', 'layer_wise', (7, 8)),
        ('small', 'backbone.stages.2.26.pwconv2.bias', 'layer_wise', (11, 14)),
        ('tiny', 'backbone.downsample_layers.3.1.weight', 'stage_wise', (0, 8)),
        ('tiny', 'backbone.stages.1.0.norm.weight', 'stage_wise', (2, 8)),
        ('atto', 'backbone.downsample_layers.2.0.weight', 'single', (5, 14)),
        ('atto', 'backbone.stages.2.3.grn.gamma', 'single', (8, 14)),
    ],
)
def test_get_layer_depth(arch: str, name: str, decay_type: str, expected: tuple[int, int]) -> None:
    model = ConvNeXt(arch)
    assert model.get_layer_depth(name, 'backbone.', decay_type=decay_type) == expected


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ('kwargs', 'match'),
    [
        ({'arch': 'gigantic'}, 'Unknown arch'),
        ({'arch': {'depths': [1, 1], 'channels': [8, 16, 32]}}, 'equal length'),
        ({'arch': {'depths': [1, 1]}}, 'missing'),
        ({'arch': SMALL_ARCH, 'out_indices': 4}, 'out of range'),
        ({'arch': SMALL_ARCH, 'out_indices': (-5,)}, 'out of range'),
        ({'arch': SMALL_ARCH, 'frozen_stages': 5}, 'frozen_stages'),
        ({'arch': SMALL_ARCH, 'out_type': 'cls'}, 'out_type'),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConvNeXt(**kwargs)


@pytest.mark.parametrize(
    ('kwargs', 'named'),
    [
        ({'out_type': 'featmap', 'gap_before_final_norm': True}, ("out_type='featmap'", 'gap_before_final_norm=True')),
        ({'out_type': 'avg', 'gap_before_final_norm': False}, ("out_type='avg'", 'gap_before_final_norm=False')),
        ({'gap_before_final_norm': 'yes'}, ('gap_before_final_norm', "'yes'")),
        ({'norm_cfg': {'type': 'BN'}}, ('norm_cfg', "'BN'", 'LN2d')),
        ({'norm_cfg': {'type': 'LN'}}, ('norm_cfg', "'LN'", 'LN2d')),
        ({'norm_cfg': {'type': 'LN2d', 'requires_grad': False}}, ('norm_cfg', "'requires_grad'", "('type', 'eps')")),
        ({'act_cfg': {'type': 'NoSuchActivation'}}, ('act_cfg', "'NoSuchActivation'", 'GELU')),
        ({'act_cfg': {'type': 'GELU', 'slope': 2}}, ('act_cfg', "'slope'", 'GELU')),
        ({'act_cfg': 'GELU'}, ('act_cfg', "'GELU'", "'type'")),
        ({'stem_patch_size': 0}, ('stem_patch_size', '0')),
    ],
)
def test_unsupported_arguments_raise_one_line_naming_them(kwargs: dict, named: tuple[str, ...]) -> None:
    """Values we cannot honour: one error line naming the argument, the value and what is supported."""
    with pytest.raises(BackboneArgumentError) as info:
        ConvNeXt(SMALL_ARCH, **kwargs)
    message = str(info.value)
    assert '\n' not in message
    for part in named:
        assert part in message


def test_mmpretrain_assertions_also_catch_argument_errors() -> None:
    """mmpretrain asserts its arch: ``pytest.raises(AssertionError)`` written for it holds for ours."""
    with pytest.raises(AssertionError, match='Unknown arch'):
        ConvNeXt(arch='unknown')


# --------------------------------------------------------------------------- mmpretrain's arguments and outputs


def test_every_mmpretrain_argument_is_accepted_with_its_default() -> None:
    """Same names, same order; equal defaults (ours None where mmpretrain's is a dict it builds the same way)."""
    import inspect

    from mmpretrain.models import ConvNeXt as MMPretrainConvNeXt

    theirs = inspect.signature(MMPretrainConvNeXt.__init__).parameters
    ours = inspect.signature(ConvNeXt.__init__).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    same_meaning_as_none = {'norm_cfg', 'act_cfg', 'init_cfg', 'gap_before_final_norm'}
    for name, parameter in theirs.items():
        if name not in same_meaning_as_none:
            assert ours[name].default == parameter.default, name
    model = ConvNeXt(SMALL_ARCH)
    assert (model.out_type, model.gap_before_final_norm, model.out_indices) == ('avg', True, (3,))
    assert model.norm_eps == 1e-6 and type(model.stages[0][0].act) is nn.GELU


def test_default_output_is_pooled_vectors_as_mmpretrains() -> None:
    (pooled,) = ConvNeXt(SMALL_ARCH).eval()(torch.randn(2, 3, 32, 32))
    assert pooled.shape == (2, 64)


@pytest.mark.parametrize(
    ('out_type', 'gap', 'expected'),
    [(None, None, 'avg'), ('featmap', None, 'featmap'), (None, False, 'featmap'), ('avg', True, 'avg')],
)
def test_out_type_and_gap_before_final_norm_are_one_choice(out_type: str | None, gap: bool | None, expected: str):
    model = ConvNeXt(SMALL_ARCH, out_type=out_type, gap_before_final_norm=gap)
    assert model.out_type == expected and model.gap_before_final_norm == (expected == 'avg')


def test_norm_cfg_without_eps_keeps_layernorms_default_as_mmpretrain() -> None:
    model = ConvNeXt(SMALL_ARCH, norm_cfg={'type': 'LN2d'})
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and all(m.eps == 1e-5 for m in norms)


def randomised_mmpretrain(**kwargs: object) -> nn.Module:
    """An ``mmpretrain.ConvNeXt`` with non-trivial layer scale, GRN and norm parameters, in eval mode."""
    from mmpretrain.models import ConvNeXt as MMPretrainConvNeXt

    model = MMPretrainConvNeXt(arch=SMALL_ARCH, **kwargs)
    model.init_weights()
    return randomise_scales_and_norms(model)


def assert_outputs_match_mmpretrain(kwargs: dict, tmp_path: Path, input_size: int = 32) -> ConvNeXt:
    """Ours, loaded from the saved state dict of an mmpretrain model with ``kwargs``, gives its outputs."""
    reference = randomised_mmpretrain(**kwargs)
    path = tmp_path / 'mmpretrain.pth'
    torch.save(reference.state_dict(), path)
    ours = ConvNeXt(SMALL_ARCH, **kwargs, init_cfg={'type': 'Pretrained', 'checkpoint': str(path)})
    ours.init_weights()
    ours.eval()
    x = torch.randn(2, kwargs.get('in_channels', 3), input_size, input_size)
    with torch.no_grad():
        expected, outs = reference(x), ours(x)
    assert len(outs) == len(expected)
    for out, ref in zip(outs, expected, strict=True):
        torch.testing.assert_close(out, ref, rtol=TOL, atol=TOL * ref.abs().max().item())
    return ours


@pytest.mark.parametrize(
    'kwargs',
    [
        {},
        {'out_indices': (0, 1, 2, 3), 'gap_before_final_norm': False, 'layer_scale_init_value': 1.0},
        {'use_grn': True, 'layer_scale_init_value': 0.0, 'out_indices': (1, 3)},
        {'norm_cfg': {'type': 'LN2d'}, 'gap_before_final_norm': False},
        {'act_cfg': {'type': 'ReLU'}, 'out_indices': -2},
        {'act_cfg': {'type': 'GELU', 'approximate': 'tanh'}, 'use_grn': True},
        {'in_channels': 1, 'stem_patch_size': 2, 'gap_before_final_norm': False, 'out_indices': (0, 3)},
    ],
)
def test_outputs_equal_mmpretrains_for_the_same_weights(kwargs: dict, tmp_path: Path) -> None:
    assert_outputs_match_mmpretrain(kwargs, tmp_path)


def test_stem_patch_size_sets_the_stem_and_every_stride() -> None:
    model = ConvNeXt(SMALL_ARCH, stem_patch_size=2, out_indices=(0, 1, 2, 3), out_type='featmap')
    stem = model.downsample_layers[0][0]
    assert stem.kernel_size == (2, 2) and stem.stride == (2, 2)
    outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]


@pytest.mark.parametrize('use_grn', [False, True])
def test_linear_pw_conv_false_builds_and_loads_mmpretrains_conv_layout(use_grn: bool, tmp_path: Path) -> None:
    """1x1-conv pointwise layers and channel-first norm/GRN; mmpretrain checkpoints of that layout load and match."""
    kwargs = {'linear_pw_conv': False, 'use_grn': use_grn, 'out_indices': (0, 3), 'gap_before_final_norm': False}
    ours = assert_outputs_match_mmpretrain(kwargs, tmp_path)
    block = ours.stages[1][0]
    assert type(block.pwconv1) is nn.Conv2d and block.pwconv1.weight.shape == (64, 16, 1, 1)
    assert type(block.pwconv2) is nn.Conv2d and block.pwconv2.weight.shape == (16, 64, 1, 1)
    assert type(block.norm) is LayerNorm2d
    linear = ConvNeXt(SMALL_ARCH, use_grn=use_grn, out_indices=(0, 3))
    assert list(ours.state_dict()) == list(linear.state_dict())


def test_linear_and_conv_layouts_load_each_others_checkpoints(tmp_path: Path) -> None:
    """The same function in both layouts: a checkpoint of one gives the other the same outputs."""
    conv = with_random_weights(ConvNeXt(SMALL_ARCH, linear_pw_conv=False, use_grn=True, out_type='featmap')).eval()
    path = tmp_path / 'conv.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in conv.state_dict().items()}}, path)
    linear = ConvNeXt(
        SMALL_ARCH, use_grn=True, out_type='featmap', init_cfg={'type': 'Pretrained', 'checkpoint': str(path)}
    )
    linear.init_weights()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(linear.eval()(x)[0], conv(x)[0], rtol=TOL, atol=TOL)


def test_conv_layout_pointwise_takes_maps_not_rows() -> None:
    block = ConvNeXt(SMALL_ARCH, linear_pw_conv=False, use_grn=True).stages[0][0]
    maps = torch.randn(2, 4, 4, 8)
    expected = block.pointwise_channels_first(maps.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(block.pointwise(maps), expected)
    with pytest.raises(ValueError, match='linear_pw_conv'):
        block.pointwise(maps.reshape(-1, 8), torch.zeros(32, dtype=torch.long), 2)


# --------------------------------------------------------------------------- registries


@pytest.mark.parametrize('host', ['mmdet', 'mmseg', 'mmpretrain'])
def test_builds_from_host_registries(host: str) -> None:
    from mmengine.registry import DefaultScope

    registry = __import__(f'{host}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(host):
        model = registry.build({'type': 'convnext.ConvNeXt', 'arch': SMALL_ARCH, 'out_indices': (0, 3)})
    assert type(model) is ConvNeXt and model.out_indices == (0, 3)


# --------------------------------------------------------------------------- fast paths


def official_forward(model: ConvNeXt, x: torch.Tensor) -> torch.Tensor:
    """The last stage's map through norm3, each block by the official formula."""
    for downsample, stage in zip(model.downsample_layers, model.stages, strict=True):
        x = downsample(x)
        for block in stage:
            y = block.norm(block.dwconv(x).permute(0, 2, 3, 1))
            y = F.gelu(block.pwconv1(y))
            if block.grn is not None:
                gx = torch.norm(y, p=2, dim=(1, 2), keepdim=True)
                y = block.grn.gamma * (y * gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)) + block.grn.beta + y
            y = block.pwconv2(y)
            if block.gamma is not None:
                y = block.gamma * y
            x = x + y.permute(0, 3, 1, 2)
    return model.norm3(x)


@pytest.mark.parametrize('use_grn', [False, True])
def test_every_compute_path_matches_official_formula(use_grn: bool) -> None:
    model = ConvNeXt(SMALL_ARCH, use_grn=use_grn, layer_scale_init_value=0.5, out_type='featmap')
    model = with_random_weights(model).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = official_forward(model, x)
        fused = model(x)[0]  # oneDNN inference kernels on the CPU
        with fast_paths(False):
            reference = model(x)[0]
    autograd = model(x)[0]
    for out in (fused, autograd, reference):
        torch.testing.assert_close(out, expected, atol=TOL, rtol=TOL)


def test_input_in_contiguous_format_is_accepted() -> None:
    model = ConvNeXt(SMALL_ARCH).eval()
    block = model.stages[0][0]
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block(x.contiguous(memory_format=torch.channels_last)))
