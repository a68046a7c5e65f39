"""LayerNorm2d, GRN and DropPath against the official formulas; half precision; fx and TorchScript."""

from collections.abc import Callable

import pytest
import torch

from convnext.models.layers import GRN, DropPath, LayerNorm, LayerNorm2d, drop_path, has_hooks

EPS = 1e-6
TOL = 1e-5
HALF_DTYPES = (torch.float16, torch.bfloat16)
HALF_RTOL = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
"""Relative tolerance of a half-precision result against float32: about two units of the last place
(fp16 has 11 significant bits, bf16 8), since the inputs and outputs are rounded once each."""
FP16_MAX = torch.finfo(torch.float16).max


def overflowing_activations(dtype: torch.dtype) -> torch.Tensor:
    """``(2, 56, 56, 64)`` activations of scale 30 with four channels 50x larger (about 1.5e3).

    Every value is well inside fp16's range, but the squared sum over the 56x56 map of a large
    channel (about 7e9) and its L2 norm (about 8e4) are not: an fp16 GRN statistic overflows.
    """
    x = torch.randn(2, 56, 56, 64).abs() * 30
    x[..., :4] *= 50
    assert torch.linalg.vector_norm(x[..., :4], dim=(1, 2)).min() > FP16_MAX
    return x.to(dtype)


def official_layer_norm_channels_first(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
) -> torch.Tensor:
    """FB ConvNeXt ``LayerNorm(data_format='channels_first')``, verbatim."""
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return weight[:, None, None] * x + bias[:, None, None]


def official_grn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """FB ConvNeXt-V2 ``GRN.forward`` on ``(N, H, W, C)``, verbatim."""
    gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
    nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
    return gamma * (x * nx) + beta + x


@pytest.mark.parametrize('channels_last', [False, True])
def test_layer_norm_2d_matches_official_channels_first(channels_last: bool) -> None:
    norm = LayerNorm2d(6)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 6, 5, 4) * 3 + 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = official_layer_norm_channels_first(x, norm.weight, norm.bias, EPS)
    out = norm(x)
    assert norm.eps == EPS
    assert out.shape == x.shape
    torch.testing.assert_close(out, expected, atol=TOL, rtol=TOL)
    if channels_last:
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_layer_norm_2d_on_vectors() -> None:
    norm = LayerNorm2d(6)
    x = torch.randn(3, 6)
    expected = official_layer_norm_channels_first(x[..., None, None], norm.weight, norm.bias, EPS)[..., 0, 0]
    torch.testing.assert_close(norm(x), expected, atol=TOL, rtol=TOL)


def test_grn_matches_official_formula() -> None:
    grn = GRN(8)
    assert grn.gamma.shape == (1, 1, 1, 8) and grn.beta.shape == (1, 1, 1, 8)
    x = torch.randn(2, 5, 3, 8)
    torch.testing.assert_close(grn(x), x)  # zero init: identity
    torch.nn.init.normal_(grn.gamma)
    torch.nn.init.normal_(grn.beta)
    torch.testing.assert_close(grn(x), official_grn(x, grn.gamma, grn.beta), atol=TOL, rtol=TOL)


def test_grn_gradients_match_official_formula() -> None:
    grn = GRN(4)
    torch.nn.init.normal_(grn.gamma)
    x = torch.randn(2, 3, 3, 4, requires_grad=True)
    grn(x).square().sum().backward()
    ours = x.grad.clone(), grn.gamma.grad.clone()
    x.grad, grn.gamma.grad = None, None
    official_grn(x, grn.gamma, grn.beta).square().sum().backward()
    torch.testing.assert_close(ours[0], x.grad, atol=TOL, rtol=TOL)
    torch.testing.assert_close(ours[1], grn.gamma.grad, atol=TOL, rtol=TOL)


def test_drop_path_scales_kept_samples_and_is_identity_in_eval() -> None:
    drop = DropPath(0.5)
    x = torch.ones(64, 3, 2, 2)
    out = drop(x)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()  # whole samples dropped
    drop.eval()
    assert drop(x) is x


def test_grn_on_rows_equals_grn_on_maps_zero_elsewhere() -> None:
    """The FCMAE entry point: rows of the visible positions give the map GRN with zeros at removed ones."""
    grn = GRN(8)
    torch.nn.init.normal_(grn.gamma)
    torch.nn.init.normal_(grn.beta)
    maps = torch.randn(3, 4, 5, 8)
    visible = torch.rand(3, 4, 5) > 0.5
    visible[1] = False  # a sample without visible positions
    expected = grn(maps * visible[..., None])[visible]
    sample_idx = visible.nonzero()[:, 0]
    rows = grn(maps[visible], sample_idx, 3)
    torch.testing.assert_close(rows, expected, atol=TOL, rtol=TOL)
    official_rows = official_grn(maps * visible[..., None], grn.gamma, grn.beta)[visible]
    torch.testing.assert_close(rows, official_rows, atol=TOL, rtol=TOL)


def test_drop_path_on_rows_drops_whole_samples() -> None:
    sample_idx = torch.arange(64).repeat_interleave(3)  # 3 rows per sample
    rows = torch.ones(sample_idx.numel(), 4)
    out = drop_path(rows, 0.5, training=True, sample_idx=sample_idx, num_samples=64).reshape(64, 12)
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert (out == out[:, :1]).all()
    assert drop_path(rows, 0.5, training=False, sample_idx=sample_idx, num_samples=64) is rows


def test_drop_path_rejects_bad_probability() -> None:
    with pytest.raises(ValueError, match='drop_prob'):
        DropPath(1.0)


@pytest.mark.parametrize('dtype', HALF_DTYPES)
@pytest.mark.parametrize('trained', [False, True])
def test_half_precision_grn_takes_float32_statistics(dtype: torch.dtype, trained: bool) -> None:
    """``GRN(64).half()`` is finite on activations whose fp16 squared sum overflows (inf / inf would be NaN)."""
    grn = GRN(64)
    if trained:  # small enough that the outputs stay inside fp16's range
        torch.nn.init.normal_(grn.gamma, std=0.05)
        torch.nn.init.normal_(grn.beta, std=0.5)
    x = overflowing_activations(dtype)
    expected = official_grn(x.float(), grn.gamma, grn.beta)  # float32 on the same (rounded) input
    out = grn.to(dtype)(x)
    assert out.dtype == dtype and torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), expected, rtol=HALF_RTOL[dtype], atol=HALF_RTOL[dtype])


@pytest.mark.parametrize('dtype', HALF_DTYPES)
@pytest.mark.parametrize('norm_cls', [LayerNorm, LayerNorm2d])
def test_half_precision_layer_norm_takes_float32_statistics(dtype: torch.dtype, norm_cls: type) -> None:
    norm = norm_cls(64)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = overflowing_activations(dtype)  # the variance of a position's 64 channels is about 3e5 > fp16 max
    if norm_cls is LayerNorm2d:
        x = x.permute(0, 3, 1, 2)  # a channels-last (N, C, H, W) map
        expected = official_layer_norm_channels_first(x.float(), norm.weight, norm.bias, EPS)
    else:
        expected = torch.nn.functional.layer_norm(x.float(), (64,), norm.weight, norm.bias, EPS)
    out = norm.to(dtype)(x)
    assert out.dtype == dtype and torch.isfinite(out).all()
    # Normalised outputs are O(1): the absolute tolerance is the dtype's rounding of values up to ~4.
    tol = 4 * HALF_RTOL[dtype]
    torch.testing.assert_close(out.float(), expected, rtol=tol, atol=tol)


def test_layer_norm_2d_is_one_traced_graph_for_maps_and_vectors() -> None:
    """No branch on the rank: one fx graph serves ``(N, C, H, W)`` and ``(N, C)``, as eager does."""
    norm = LayerNorm2d(6)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    traced = torch.fx.symbolic_trace(norm)
    maps = torch.randn(2, 6, 5, 4).contiguous(memory_format=torch.channels_last)
    vectors = torch.randn(3, 6)
    out = traced(maps)
    torch.testing.assert_close(out, norm(maps), atol=0, rtol=0)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(traced(vectors), norm(vectors), atol=0, rtol=0)


def random_layers() -> dict[str, torch.nn.Module]:
    """Each layer with randomised parameters (GRN starts as the identity otherwise)."""
    layers = {'LayerNorm': LayerNorm(8), 'LayerNorm2d': LayerNorm2d(8), 'GRN': GRN(8)}
    for layer in layers.values():
        for param in layer.parameters():
            torch.nn.init.normal_(param)
    return layers


@pytest.mark.parametrize(
    ('name', 'shape'),
    [('LayerNorm', (2, 5, 3, 8)), ('LayerNorm2d', (2, 8, 5, 3)), ('LayerNorm2d', (2, 8)), ('GRN', (2, 5, 3, 8))],
)
def test_layers_script_and_equal_eager(name: str, shape: tuple[int, ...]) -> None:
    layer = random_layers()[name]
    x = torch.randn(shape)
    torch.testing.assert_close(torch.jit.script(layer)(x), layer(x), atol=0, rtol=0)


def test_scripted_grn_on_rows_equals_eager() -> None:
    grn = random_layers()['GRN']
    rows, sample_idx = torch.randn(7, 8), torch.tensor([0, 0, 2, 2, 2, 1, 0])
    torch.testing.assert_close(torch.jit.script(grn)(rows, sample_idx, 3), grn(rows, sample_idx, 3), atol=0, rtol=0)


@pytest.mark.parametrize('shape', [(64, 3, 2, 2), (64, 12)])
def test_scripted_drop_path_draws_what_eager_draws(shape: tuple[int, ...]) -> None:
    """Same seed, same ops: the scripted DropPath drops the same samples, in training mode and on any rank."""
    drop = DropPath(0.5)
    scripted = torch.jit.script(drop)
    x = torch.randn(shape)
    torch.manual_seed(1)
    expected = drop(x)
    torch.manual_seed(1)
    torch.testing.assert_close(scripted(x), expected, atol=0, rtol=0)
    assert (expected == 0).any() and (expected != 0).any()
    drop.eval()
    assert torch.equal(torch.jit.script(drop)(x), x)  # eval mode: the identity


def test_drop_path_keeps_the_memory_format() -> None:
    x = torch.randn(8, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    assert drop_path(x, 0.5, training=True).is_contiguous(memory_format=torch.channels_last)


def test_rows_without_num_samples_raise_one_clear_error() -> None:
    rows, sample_idx = torch.randn(4, 8), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match='GRN: num_samples .* required with sample_idx, got None'):
        GRN(8)(rows, sample_idx)
    with pytest.raises(ValueError, match='drop_path: num_samples .* required with sample_idx, got None'):
        drop_path(rows, 0.5, training=True, sample_idx=sample_idx)


@pytest.mark.parametrize(
    'register',
    [
        lambda module: module.register_forward_hook(lambda *args: None),
        lambda module: module.register_forward_pre_hook(lambda *args: None),
        lambda module: module.register_full_backward_hook(lambda *args: None),
        lambda module: module.register_full_backward_pre_hook(lambda *args: None),
    ],
)
def test_has_hooks_sees_every_per_module_hook_until_removed(register: Callable) -> None:
    module, child = torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.nn.Linear(2, 2)
    assert not has_hooks(module)
    handle = register(module)
    assert has_hooks(module) and not has_hooks(module[0]) and not has_hooks(child)
    handle.remove()
    assert not has_hooks(module)


def test_has_hooks_ignores_global_module_hooks() -> None:
    handle = torch.nn.modules.module.register_module_forward_hook(lambda *args: None)
    try:
        assert not has_hooks(torch.nn.Linear(2, 2))
    finally:
        handle.remove()
