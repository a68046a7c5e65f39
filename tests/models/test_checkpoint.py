"""Checkpoint formats: detection, conversion, loading through init_cfg, parity with timm."""

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from convnext.models import ConvNeXt, ConvNeXtV2
from convnext.models.checkpoint import (
    convert_to_convnext,
    detect_format,
    load_pretrained,
    minkowski_kernel_to_conv,
)

ARCH = {'depths': [1, 2, 2, 1], 'channels': [8, 16, 32, 64]}
LAST = 3
TOL = 1e-5
StateDict = dict[str, torch.Tensor]


def randomised(model: ConvNeXt, with_head_norm: bool = True) -> ConvNeXt:
    """Random weights everywhere (layer scale, GRN and norms too)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith(f'norm{LAST}') and not with_head_norm:
                continue
            param.normal_(0.0 if param.dim() > 1 else 0.5, 0.2)
    return model.eval()


# ----------------------------------------------------------------- format writers (test-side, independent)


def ours_to_official(state_dict: StateDict, num_classes: int = 5) -> StateDict:
    """Our names to the official classification checkpoint (``norm.*``, ``head.*``)."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith(f'norm{LAST}.'):
            key = 'norm.' + key.split('.', 1)[1]
        out[key] = value.clone()
    channels = state_dict[f'norm{LAST}.weight'].shape[0]
    out['head.weight'] = torch.randn(num_classes, channels)
    out['head.bias'] = torch.randn(num_classes)
    return out


def official_to_timm(state_dict: StateDict, conv_mlp: bool = False) -> StateDict:
    """The official names to timm's (what timm's checkpoint_filter_fn does), written with splits."""
    out = {}
    for key, value in state_dict.items():
        parts = key.split('.')
        if parts[0] == 'downsample_layers':
            parts = ['stem', *parts[2:]] if parts[1] == '0' else ['stages', parts[1], 'downsample', *parts[2:]]
        elif parts[0] == 'stages':
            name = {'dwconv': 'conv_dw', 'pwconv1': 'mlp.fc1', 'pwconv2': 'mlp.fc2'}.get(parts[3], parts[3])
            if parts[3] == 'grn':
                name, parts[4] = 'mlp.grn', {'gamma': 'weight', 'beta': 'bias'}[parts[4]]
                value = value.flatten()
            if conv_mlp and parts[3] in ('pwconv1', 'pwconv2') and parts[4] == 'weight':
                value = value[..., None, None]
            parts = ['stages', parts[1], 'blocks', parts[2], name, *parts[4:]]
        elif parts[0] == 'norm':
            parts = ['head', 'norm', *parts[1:]]
        elif parts[0] == 'head':
            parts = ['head', 'fc', *parts[1:]]
        out['.'.join(parts)] = value
    return out


def timm_to_official(state_dict: StateDict) -> StateDict:
    """The inverse of timm ``convnext.py`` ``checkpoint_filter_fn`` (timm names to official ones), by replaces."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith('stem.'):
            key = 'downsample_layers.0.' + key[len('stem.') :]
        elif '.downsample.' in key:
            stage, rest = key[len('stages.') :].split('.downsample.')
            key = f'downsample_layers.{stage}.{rest}'
        elif '.blocks.' in key:
            key = key.replace('.blocks.', '.', 1).replace('conv_dw', 'dwconv').replace('mlp.fc', 'pwconv')
            if '.mlp.grn.' in key:
                key = key.replace('mlp.grn.weight', 'grn.gamma').replace('mlp.grn.bias', 'grn.beta')
                value = value.reshape(1, 1, 1, -1)
            if '.pwconv' in key and value.dim() == 4:
                value = value[:, :, 0, 0]
        elif key.startswith('head.norm.'):
            key = 'norm.' + key[len('head.norm.') :]
        elif key.startswith('head.fc.'):
            key = 'head.' + key[len('head.fc.') :]
        out[key] = value
    return out


def conv_to_minkowski(weight: torch.Tensor) -> torch.Tensor:
    """Dense conv weight to a Minkowski kernel: offset index ``kx * k + ky`` (x-major)."""
    out_dim, in_dim, size, _ = weight.shape
    kernel = torch.empty(size * size, in_dim, out_dim)
    for ky in range(size):
        for kx in range(size):
            kernel[kx * size + ky] = weight[:, :, ky, kx].t()
    return kernel


def ours_to_fcmae_sparse(state_dict: StateDict) -> StateDict:
    """Our V2 names to the official sparse FCMAE encoder, plus decoder keys."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith('norm'):
            continue  # the sparse encoder has no output norm
        parts = key.split('.')
        is_stem = parts[:2] == ['downsample_layers', '0']
        if not is_stem and key.endswith('weight') and value.dim() == 4:
            kernel = conv_to_minkowski(value)
            value = kernel[:, 0, :] if '.dwconv.' in key else kernel
            key = key[: -len('weight')] + 'kernel'
        elif not is_stem and (re.search(r'\.(dwconv|1)\.bias$', key) and value.dim() == 1):
            value = value[None]  # Minkowski conv bias (1, C)
        elif '.grn.' in key:
            value = value.reshape(1, -1)
        elif not is_stem and re.search(r'\.(norm|0)\.(weight|bias)$', key):
            key = re.sub(r'\.(weight|bias)$', r'.ln.\1', key)
        elif re.search(r'\.pwconv[12]\.', key):
            key = re.sub(r'\.(weight|bias)$', r'.linear.\1', key)
        out['encoder.' + key] = value
    out.update({'mask_token': torch.zeros(1, 4, 1, 1), 'proj.weight': torch.randn(4, 64, 1, 1)})
    out.update({'decoder.0.dwconv.weight': torch.randn(4, 1, 7, 7), 'pred.weight': torch.randn(48, 4, 1, 1)})
    return out


def ours_to_mmpretrain(state_dict: StateDict) -> StateDict:
    """Our names to an mmpretrain ImageClassifier state dict."""
    out = {}
    for key, value in state_dict.items():
        key = key.replace('.dwconv.', '.depthwise_conv.').replace('.pwconv', '.pointwise_conv')
        if '.grn.' in key:
            value = value.flatten()
        out['backbone.' + key] = value
    out['head.fc.weight'], out['head.fc.bias'] = torch.randn(5, 64), torch.randn(5)
    return out


# ----------------------------------------------------------------- loading every format


def outputs(model: ConvNeXt, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)[0]


def load_via_init_cfg(cls: type, path: Path, **kwargs: object) -> ConvNeXt:
    model = cls(ARCH, init_cfg={'type': 'Pretrained', 'checkpoint': str(path), **kwargs})
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize(
    ('name', 'cls', 'make', 'expected_format'),
    [
        ('official_v1_model', ConvNeXt, lambda sd: {'model': ours_to_official(sd)}, 'official'),
        ('official_v1_model_ema', ConvNeXt, lambda sd: {'model_ema': ours_to_official(sd)}, 'official'),
        ('official_v2_bare', ConvNeXtV2, ours_to_official, 'official'),
        ('timm_v1', ConvNeXt, lambda sd: official_to_timm(ours_to_official(sd)), 'timm'),
        ('timm_v2_conv_mlp', ConvNeXtV2, lambda sd: official_to_timm(ours_to_official(sd), conv_mlp=True), 'timm'),
        ('mmpretrain_v2', ConvNeXtV2, lambda sd: {'state_dict': ours_to_mmpretrain(sd)}, 'mmpretrain'),
        ('ours_mmengine', ConvNeXt, lambda sd: {'state_dict': {'backbone.' + k: v for k, v in sd.items()}}, 'convnext'),
    ],
)
def test_every_format_loads_with_identical_outputs(
    tmp_path: Path, name: str, cls: type, make: object, expected_format: str
) -> None:
    source = randomised(cls(ARCH))
    state_dict = source.state_dict()
    checkpoint = make(state_dict)
    path = tmp_path / f'{name}.pth'
    torch.save(checkpoint, path)
    inner = next(iter(checkpoint.values())) if len(checkpoint) == 1 else checkpoint
    assert convert_to_convnext(inner)[1] == expected_format
    loaded = load_via_init_cfg(cls, path)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(outputs(loaded, x), outputs(source, x), atol=TOL, rtol=TOL)


@pytest.mark.parametrize('sparse', [True, False])
def test_fcmae_checkpoints_load(tmp_path: Path, sparse: bool) -> None:
    source = randomised(ConvNeXtV2(ARCH), with_head_norm=False)
    state_dict = source.state_dict()
    if sparse:
        checkpoint = {'model': ours_to_fcmae_sparse(state_dict)}
    else:  # released pt_only files: dense official names, no norm / head
        checkpoint = {'model': {k: v for k, v in state_dict.items() if not k.startswith('norm')}}
    path = tmp_path / 'fcmae.pt'
    torch.save(checkpoint, path)
    assert detect_format(checkpoint['model']) == ('fcmae_sparse' if sparse else 'fcmae_dense')
    loaded = load_via_init_cfg(ConvNeXtV2, path)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(outputs(loaded, x), outputs(source, x), atol=TOL, rtol=TOL)


def test_minkowski_kernel_layout() -> None:
    weight = torch.randn(6, 1, 3, 3)
    kernel = torch.randn(9, 6)
    for ky in range(3):
        for kx in range(3):
            kernel[kx * 3 + ky] = weight[:, 0, ky, kx]
    torch.testing.assert_close(minkowski_kernel_to_conv(kernel), weight)
    standard = conv_to_minkowski(torch.randn(5, 4, 2, 2))
    assert minkowski_kernel_to_conv(standard).shape == (5, 4, 2, 2)


def test_prefix_selects_and_strips(tmp_path: Path) -> None:
    source = randomised(ConvNeXt(ARCH))
    path = tmp_path / 'det.pth'
    torch.save({'state_dict': {'model.backbone.' + k: v for k, v in source.state_dict().items()}}, path)
    loaded = load_via_init_cfg(ConvNeXt, path, prefix='model.backbone.')
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(outputs(loaded, x), outputs(source, x), atol=TOL, rtol=TOL)


# ----------------------------------------------------------------- parity with timm


def build_timm(name: str, v2: bool, conv_mlp: bool) -> torch.nn.Module:
    """A timm ConvNeXt by name, or of :data:`ARCH` (``name`` 'small') with the given flags."""
    timm = pytest.importorskip('timm')
    if name != 'small':
        return timm.create_model(name, pretrained=False, num_classes=10)
    flags = {'use_grn': True, 'ls_init_value': None} if v2 else {}
    return timm.models.convnext.ConvNeXt(
        depths=ARCH['depths'], dims=ARCH['channels'], num_classes=10, conv_mlp=conv_mlp, **flags
    )


@pytest.mark.parametrize(
    ('timm_name', 'v2', 'conv_mlp', 'arch'),
    [
        ('small', False, False, ARCH),
        ('small', True, False, ARCH),
        ('convnext_atto', False, True, 'atto'),  # conv_mlp=True in timm
        ('convnextv2_atto', True, True, 'atto'),  # conv_mlp=True in timm
        pytest.param('convnext_tiny', False, False, 'tiny', marks=pytest.mark.slow),
        pytest.param('convnextv2_tiny', True, False, 'tiny', marks=pytest.mark.slow),
    ],
)
@pytest.mark.parametrize('via', ['timm', 'official'])
def test_outputs_equal_timm(
    tmp_path: Path, timm_name: str, v2: bool, conv_mlp: bool, arch: str | dict, via: str
) -> None:
    reference = build_timm(timm_name, v2, conv_mlp).eval()
    cls = ConvNeXtV2 if v2 else ConvNeXt
    with torch.no_grad():
        for name, param in reference.named_parameters():
            if name.endswith(('gamma', 'grn.weight', 'grn.bias')) or 'norm' in name:
                param.normal_(0.5, 0.2)
    state_dict = reference.state_dict()
    if via == 'official':
        state_dict = {'model': timm_to_official(state_dict)}
    path = tmp_path / f'{timm_name}.pth'
    torch.save(state_dict, path)
    init_cfg = {'type': 'Pretrained', 'checkpoint': str(path)}
    model = cls(arch, out_indices=(0, 1, 2, 3), out_type='featmap', init_cfg=init_cfg)
    pooling = cls(arch, out_type='avg', init_cfg=init_cfg)
    for m in (model, pooling):
        m.init_weights()
        m.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, (ours_pooled,) = model(x), pooling(x)
        maps = reference.forward_intermediates(x, intermediates_only=True)
        pooled = reference.forward_head(reference.forward_features(x), pre_logits=True)
    torch.testing.assert_close(ours_pooled, pooled, atol=TOL, rtol=TOL)
    for i, (out, ref) in enumerate(zip(ours, maps, strict=True)):
        norm = getattr(model, f'norm{i}')  # norm0..2 identity; norm3 is timm's head.norm
        expected = F.layer_norm(ref.permute(0, 2, 3, 1), norm.normalized_shape, norm.weight, norm.bias, 1e-6)
        torch.testing.assert_close(out, expected.permute(0, 3, 1, 2), atol=TOL, rtol=TOL, msg=f'stage {i}')


# ----------------------------------------------------------------- errors


def test_checkpoint_of_another_arch_raises_with_key_and_shapes(tmp_path: Path) -> None:
    path = tmp_path / 'atto.pth'
    torch.save({'model': ours_to_official(ConvNeXt('atto').state_dict())}, path)
    with pytest.raises(ValueError, match=r"'downsample_layers\.0\.0\.weight'.*\(40, 3, 4, 4\).*\(8, 3, 4, 4\)"):
        load_via_init_cfg(ConvNeXt, path)


def test_missing_file_raises_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / 'nope.pth'
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_pretrained(ConvNeXt(ARCH), str(missing))


def test_unreachable_url_names_url_and_option() -> None:
    url = 'http://127.0.0.1:9/convnext_tiny_1k_224.pth'
    with pytest.raises(RuntimeError, match=r'127\.0\.0\.1:9/convnext_tiny.*model\.backbone\.init_cfg\.checkpoint=PATH'):
        load_pretrained(ConvNeXt(ARCH), url)


def test_unknown_format_raises() -> None:
    with pytest.raises(ValueError, match='Unrecognised checkpoint format'):
        detect_format({'layer1.0.conv1.weight': torch.zeros(1)})


def test_missing_and_unexpected_keys_are_warned_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mmengine.logging import MMLogger

    state_dict = ours_to_official(ConvNeXt(ARCH).state_dict())
    del state_dict['stages.0.0.gamma']
    state_dict['stages.9.0.gamma'] = torch.zeros(8)
    path = tmp_path / 'partial.pth'
    torch.save(state_dict, path)
    records = []
    logger = MMLogger.get_current_instance()
    handler = type('H', (__import__('logging').Handler,), {'emit': lambda self, r: records.append(r)})()
    logger.addHandler(handler)
    try:
        load_via_init_cfg(ConvNeXt, path)
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelname == 'WARNING']
    assert len(warnings) == 1
    assert 'missing keys: [stages.0.0.gamma]' in warnings[0]
    assert 'unexpected keys: [stages.9.0.gamma]' in warnings[0]
