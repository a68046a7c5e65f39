"""FCMAE: masking, encoder backends, no leakage, loss, parameter names."""

import sys
import warnings

import pytest
import torch

from convnext.models.backbones.convnext import ConvNeXtV2
from convnext.models.selfsup import FCMAE, patchify, random_patch_mask
from convnext.registry import MODELS

TINY_ARCH = {'depths': [1, 2, 1, 1], 'channels': [8, 16, 24, 32]}
IMAGE_SIZE = 96  # a 3x3 grid of 32-pixel patches
BATCH = 3
DECODER_DIM = 16


def build_fcmae(**kwargs: object) -> FCMAE:
    """A tiny FCMAE with random (not identity) LayerNorm and GRN parameters."""
    cfg = dict(type='FCMAE', backbone=dict(type='convnext.ConvNeXtV2', arch=TINY_ARCH), decoder_embed_dim=DECODER_DIM)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.grn.' in name or 'norm' in name or name.endswith('bias'):
                param.normal_(std=0.5)
    return model


def images(batch: int = BATCH) -> torch.Tensor:
    return torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE)


def encode_with_grads(
    model: FCMAE, imgs: torch.Tensor, mask: torch.Tensor, backends: tuple[str, ...]
) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]]]:
    """Encoder features and backbone gradients (of a fixed weighted sum of the features) with each backend."""
    outs, grads = {}, {}
    for backend in backends:
        model.zero_grad()
        feats = model.encode(imgs, mask, backend=backend)
        (feats * torch.linspace(-1, 1, feats.numel()).reshape(feats.shape)).sum().backward()
        outs[backend] = feats
        grads[backend] = {n: p.grad.clone() for n, p in model.backbone.named_parameters()}
    return outs, grads


def test_generate_mask_counts() -> None:
    model = build_fcmae()
    mask = model.generate_mask(images())
    num_patches = (IMAGE_SIZE // 32) ** 2
    assert mask.shape == (BATCH, num_patches)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    visible = int(num_patches * (1 - 0.6))
    assert (mask.sum(dim=1) == num_patches - visible).all()


def test_random_patch_mask_rejects_bad_ratio() -> None:
    with pytest.raises(ValueError, match='mask_ratio'):
        random_patch_mask(2, 9, 1.0)


def test_reconstruct_shape_and_loss() -> None:
    model = build_fcmae()
    imgs = images()
    mask = model.generate_mask(imgs)
    pred = model.reconstruct(imgs, mask)
    assert pred.shape == (BATCH, 9, 32 * 32 * 3)
    target = patchify(imgs, 32)
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    expected = (((pred - target) ** 2).mean(-1) * mask).sum() / mask.sum()
    torch.testing.assert_close(model.reconstruction_loss(imgs, pred, mask), expected)
    loss = model.loss(imgs)['loss']
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name


@pytest.mark.parametrize('uneven', [False, True])
def test_dense_equals_plain_masking(uneven: bool) -> None:
    model = build_fcmae()
    imgs = images()
    mask = model.generate_mask(imgs)
    if uneven:  # different numbers of visible patches per sample take the general GRN path
        mask[0] = 0.0
        mask[1, :8] = 1.0
    outs, grads = encode_with_grads(model, imgs, mask, ('plain', 'dense'))
    torch.testing.assert_close(outs['dense'], outs['plain'], atol=1e-5, rtol=1e-5)
    for name, grad in grads['plain'].items():
        torch.testing.assert_close(grads['dense'][name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_removed_positions_are_zero() -> None:
    model = build_fcmae()
    imgs = images()
    mask = model.generate_mask(imgs)
    feats = model.encode(imgs, mask)
    removed = mask.reshape(BATCH, 1, 3, 3).bool().expand_as(feats)
    assert (feats[removed] == 0).all()
    assert (feats[~removed] != 0).any()


def test_unmasked_encoder_equals_backbone() -> None:
    model = build_fcmae()
    backbone = ConvNeXtV2(arch=TINY_ARCH)
    backbone.load_state_dict(model.backbone.state_dict(), strict=False)
    imgs = images()
    x = imgs
    for i in range(backbone.num_stages):
        x = backbone.stages[i](backbone.downsample_layers[i](x))
    feats = model.extract_feat(imgs)[0]
    torch.testing.assert_close(feats, x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('backend', ['dense', 'plain'])
def test_no_leakage_from_removed_patches(backend: str) -> None:
    model = build_fcmae(backend=backend).eval()
    imgs = images()
    mask = model.generate_mask(imgs)
    pixel_mask = mask.reshape(BATCH, 1, 3, 1, 3, 1).expand(BATCH, 3, 3, 32, 3, 32).reshape(imgs.shape)
    changed = torch.where(pixel_mask.bool(), torch.randn_like(imgs) * 100, imgs)
    assert not torch.equal(changed, imgs)
    torch.testing.assert_close(model.reconstruct(changed, mask), model.reconstruct(imgs, mask), atol=1e-6, rtol=0)


@pytest.mark.parametrize('backend', ['dense', 'plain'])
def test_patch_size_follows_the_backbone_stem(backend: str) -> None:
    """With ``stem_patch_size=2`` the encoder's total stride is 2 * 2**3 = 16: the mask patch, the stem-resolution
    removed map and the reconstruction all follow it, and removed patches still do not leak."""
    stem, patch = 2, 16
    backbone = dict(type='convnext.ConvNeXtV2', arch=TINY_ARCH, stem_patch_size=stem)
    with pytest.raises(ValueError, match='must equal the encoder total stride 16, got 32'):
        build_fcmae(backbone=backbone)
    model = build_fcmae(backbone=backbone, patch_size=patch, backend=backend).eval()
    size = 48  # a 3x3 grid of 16-pixel patches
    imgs = torch.randn(BATCH, 3, size, size)
    mask = model.generate_mask(imgs)
    assert mask.shape == (BATCH, 9)
    assert model.encode(imgs, mask).shape == (BATCH, TINY_ARCH['channels'][-1], 3, 3)
    pred = model.reconstruct(imgs, mask)
    assert pred.shape == (BATCH, 9, patch * patch * 3)
    pixel_mask = mask.reshape(BATCH, 1, 3, 1, 3, 1).expand(BATCH, 3, 3, patch, 3, patch).reshape(imgs.shape)
    changed = torch.where(pixel_mask.bool(), torch.randn_like(imgs) * 100, imgs)
    torch.testing.assert_close(model.reconstruct(changed, mask), pred, atol=1e-6, rtol=0)


def test_parameter_names_are_backbone_names() -> None:
    model = build_fcmae()
    backbone_keys = {k for k in model.state_dict() if k.startswith('backbone.')}
    reference = {f'backbone.{k}' for k in ConvNeXtV2(arch=TINY_ARCH).state_dict() if not k.startswith('norm')}
    assert backbone_keys == reference
    others = {k.split('.')[0] for k in model.state_dict() if not k.startswith('backbone.')}
    assert others == {'proj', 'mask_token', 'decoder', 'pred'}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match='patch_size'):
        build_fcmae(patch_size=16)
    with pytest.raises(ValueError, match='backend'):
        build_fcmae(backend='sparse')
    model = build_fcmae()
    with pytest.raises(ValueError, match='multiple of the patch size'):
        model.generate_mask(torch.zeros(1, 3, 40, 40))


def test_minkowski_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, 'MinkowskiEngine', None)  # `import MinkowskiEngine` now raises ImportError
    with pytest.raises(ImportError, match='tools/install.sh'):
        build_fcmae(backend='minkowski')


@pytest.mark.minkowski
def test_minkowski_equals_dense() -> None:
    pytest.importorskip('MinkowskiEngine')
    model = build_fcmae()
    imgs = images()
    mask = model.generate_mask(imgs)
    mask[:, 0] = 1.0  # a border patch removed in every sample: the dense shape must be explicit
    outs, grads = encode_with_grads(model, imgs, mask, ('dense', 'minkowski'))
    torch.testing.assert_close(outs['minkowski'], outs['dense'], atol=1e-5, rtol=1e-5)
    for name, grad in grads['dense'].items():
        torch.testing.assert_close(grads['minkowski'][name], grad, atol=1e-5, rtol=1e-4, msg=name)


# --------------------------------------------------------------------------- the block's modules are the API


SUBMODULES = ('dwconv', 'norm', 'pwconv1', 'act', 'grn', 'pwconv2')


def record_block_calls(
    model: FCMAE, names: tuple[str, ...]
) -> list[dict[str, list[tuple[torch.Tensor, torch.Tensor]]]]:
    """Per encoder block, the ``(first input, output)`` of every call of the named submodules (forward hooks)."""
    records = []
    for stage in model.backbone.stages:
        for block in stage:
            calls: dict[str, list] = {name: [] for name in names}
            for name in names:
                getattr(block, name).register_forward_hook(
                    lambda module, args, out, calls=calls[name]: calls.append((args[0].detach(), out.detach()))
                )
            records.append(calls)
    return records


@pytest.mark.parametrize('backend', ['dense', 'plain', pytest.param('minkowski', marks=pytest.mark.minkowski)])
@pytest.mark.parametrize('grad', [False, True])
def test_encoder_runs_the_block_modules_with_their_hooks(backend: str, grad: bool) -> None:
    """Hooks on every block submodule fire once per encode, with the tensors the chain computes."""
    if backend == 'minkowski':
        pytest.importorskip('MinkowskiEngine')
    model = build_fcmae()
    names = SUBMODULES[1:] if backend == 'minkowski' else SUBMODULES  # minkowski runs dwconv as a sparse conv
    records = record_block_calls(model, names)
    imgs = images()
    mask = model.generate_mask(imgs)
    with torch.set_grad_enabled(grad), warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)  # no fallback to another backend
        model.encode(imgs, mask, backend=backend)
    for calls in records:
        assert {name: len(c) for name, c in calls.items()} == dict.fromkeys(names, 1)
        links = list(zip(SUBMODULES[1:], SUBMODULES[2:], strict=False))  # norm -> pwconv1 ... grn -> pwconv2
        for producer, consumer in links:
            if backend == 'plain' and consumer == 'grn':
                continue  # the plain baseline zeroes GRN's input at removed positions
            produced, consumed = calls[producer][0][1], calls[consumer][0][0]
            torch.testing.assert_close(consumed.reshape(produced.shape), produced)


class ZeroLinear(torch.nn.Linear):
    """A replacement ``pwconv2`` whose output is zero: every block becomes the identity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 0.0


@pytest.mark.parametrize('backend', ['dense', 'plain'])
def test_encoder_uses_replaced_block_modules(backend: str) -> None:
    from convnext.models.selfsup.dense_encoder import stage_masks
    from convnext.models.selfsup.masking import mask_to_map

    model = build_fcmae()
    for stage in model.backbone.stages:
        for block in stage:
            block.pwconv2 = ZeroLinear(block.pwconv2.in_features, block.pwconv2.out_features)
    imgs = images()
    mask = model.generate_mask(imgs)
    removed = mask_to_map(mask, (3, 3), 8)
    x = imgs
    with torch.no_grad():
        for layer, stage_mask in zip(model.backbone.downsample_layers, stage_masks(removed, 4), strict=True):
            x = layer(x) * stage_mask.visible
        torch.testing.assert_close(model.encode(imgs, mask, backend=backend), x, atol=1e-6, rtol=1e-6)


def test_minkowski_backend_names_the_convolutions_it_would_bypass() -> None:
    from convnext.models.selfsup.minkowski_encoder import unsupported_modules

    backbone = build_fcmae().backbone
    assert unsupported_modules(backbone) == []
    backbone.stages[1][0].dwconv.register_forward_hook(lambda module, args, out: None)
    backbone.downsample_layers[2][1] = torch.nn.Sequential(backbone.downsample_layers[2][1])
    assert unsupported_modules(backbone) == ['downsample_layers.2.1', 'stages.1.0.dwconv']


@pytest.mark.minkowski
def test_minkowski_falls_back_to_dense_for_hooked_convolutions() -> None:
    pytest.importorskip('MinkowskiEngine')
    model = build_fcmae(backend='minkowski')
    imgs = images()
    mask = model.generate_mask(imgs)
    calls = []
    model.backbone.stages[0][0].dwconv.register_forward_hook(lambda module, args, out: calls.append(out))
    with pytest.warns(UserWarning, match=r"stages\.0\.0\.dwconv.*backend='dense'"):
        feats = model.encode(imgs, mask)
    assert len(calls) == 1
    torch.testing.assert_close(feats, model.encode(imgs, mask, backend='dense'), atol=1e-6, rtol=1e-6)
