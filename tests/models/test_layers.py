"""LayerNorm2d, GRN and DropPath against the official formulas."""

import pytest
import torch

from convnext.models.layers import GRN, DropPath, LayerNorm2d

EPS = 1e-6
TOL = 1e-5


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


def test_drop_path_rejects_bad_probability() -> None:
    with pytest.raises(ValueError, match='drop_prob'):
        DropPath(1.0)
