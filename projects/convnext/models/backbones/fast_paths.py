"""CPU fast path of the ConvNeXt block, kept apart from the readable reference forward.

The model is ``ConvNeXtBlock.residual``: the paper's block through its
submodules ``dwconv, norm, pwconv1, act, [grn], pwconv2`` and ``gamma``. That is
what hooks, replaced submodules, FLOP counters, tracers, exporters and
compilers see. The block asks one function, :func:`fast_forward`, passing
itself; this module reads only the public attributes of :class:`FusableBlock`
and does not import the block. The one fast path, :func:`fused_inference`,
computes the same function with oneDNN kernels (``pwconv1`` with GELU fused
into it, ``pwconv2`` with the residual add fused into it) and is taken only
when nobody could tell the difference (:func:`fused_inference_applies`):

* the switch is on (:func:`set_fast_paths`, :func:`fast_paths`, or the
  environment variable ``CONVNEXT_FAST_PATHS=0`` at import, which turns it off);
* no autograd (``torch.no_grad``/``inference_mode``, or nothing requires grad),
  no active stochastic depth, float32 channels-last CPU input, no autocast;
* every submodule is the plain class the block builds (a replaced or
  parametrized module takes the reference path) and has no hooks, and there
  are no global module hooks;
* no tracer, scripter, compiler or exporter is running and no
  ``TorchDispatchMode``/``TorchFunctionMode`` (``FlopCounterMode``, fake or
  meta tensors) is active: those get the standard ops of the reference forward.

Nothing is cached: the weights are read at every call, so any write to a
parameter (through ``.data``, ``load_state_dict``, an EMA swap, ``module.to()``)
is seen by the next forward. The layer scale is folded into ``pwconv2`` (a
``(C, 4C)`` product per call, about 0.1% of the block's work for the sizes
where it is chosen) when that is cheaper than a pass over the output.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
import torch.nn.modules.module as module_hooks
from torch import nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from ..layers import GRN, DropPath, LayerNorm, has_hooks

ENV_SWITCH = 'CONVNEXT_FAST_PATHS'
"""Environment variable: ``0`` turns the fast path off from the start (e.g. to debug a tool)."""

ONEDNN_AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, '_linear_pointwise')
"""Whether the oneDNN CPU kernels (fused inner products) are built in."""

PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    'dwconv': (nn.Conv2d,),
    'norm': (LayerNorm,),
    'pwconv1': (nn.Linear,),
    'act': (nn.GELU,),
    'grn': (GRN, type(None)),
    'pwconv2': (nn.Linear,),
    'drop_path': (DropPath,),
}
"""The exact classes the fused kernels compute for each submodule; anything else takes the reference path."""

GLOBAL_HOOK_DICTS = ('_global_forward_hooks', '_global_forward_pre_hooks', '_global_backward_hooks')
"""Hook registries of ``torch.nn.modules.module.register_module_*_hook`` (apply to every module)."""

_state = {'enabled': os.environ.get(ENV_SWITCH, '1') != '0'}


class FusableBlock(Protocol):
    """What the fast path reads of a block (``ConvNeXtBlock``): its submodules, layer scale and mode.

    The names are the official ``Block``'s (ConvNeXt ``models/convnext.py``,
    ConvNeXt-V2 ``models/convnextv2.py``); :data:`PLAIN_TYPES` says which
    classes the fused kernels compute.
    """

    dwconv: nn.Module
    norm: nn.Module
    pwconv1: nn.Module
    act: nn.Module
    grn: nn.Module | None
    pwconv2: nn.Module
    gamma: torch.Tensor | None
    drop_path: nn.Module
    training: bool

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The block's parameters (``nn.Module.parameters``)."""


def fast_paths_enabled() -> bool:
    """Whether the block may use its fast path (the one switch)."""
    return _state['enabled']


def set_fast_paths(enabled: bool) -> None:
    """Turns the fast path of every ConvNeXt block on or off."""
    _state['enabled'] = bool(enabled)


@contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    """Context manager: the switch set to ``enabled`` inside, restored after.

    Example::

        with fast_paths(False):  # every block runs its reference forward
            out = model(x)
    """
    previous = _state['enabled']
    set_fast_paths(enabled)
    try:
        yield
    finally:
        set_fast_paths(previous)


def plain_modules(block: FusableBlock) -> bool:
    """Whether every submodule is the plain class the block builds, without hooks."""
    if any(getattr(module_hooks, name, None) for name in GLOBAL_HOOK_DICTS):
        return False
    for name, types in PLAIN_TYPES.items():
        module = getattr(block, name)
        if type(module) not in types or (module is not None and has_hooks(module)):
            return False
    return block.act.approximate == 'none' and block.pwconv1.bias is not None and block.pwconv2.bias is not None


def standard_ops_required() -> bool:
    """Whether a tracer, compiler, exporter, dispatch mode or function mode must see standard ops."""
    return (
        torch.compiler.is_compiling()  # first: dynamo constant-folds it, the rest is then never traced
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or is_in_torch_dispatch_mode()
        or torch._C._is_torch_function_mode_enabled()
    )


def fused_inference_applies(block: FusableBlock, x: torch.Tensor) -> bool:
    """Whether :func:`fused_inference` computes exactly what the reference forward would, unobserved."""
    if not (_state['enabled'] and ONEDNN_AVAILABLE) or standard_ops_required():
        return False
    if type(x) is not torch.Tensor or x.device.type != 'cpu' or x.dtype != torch.float32:
        return False
    if torch.is_autocast_enabled('cpu') or not x.is_contiguous(memory_format=torch.channels_last):
        return False
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in block.parameters())):
        return False
    if not plain_modules(block) or (block.training and block.drop_path.drop_prob > 0):
        return False
    return all(
        w.dtype == torch.float32 and w.device.type == 'cpu' for w in (block.pwconv1.weight, block.pwconv2.weight)
    )


def fused_inference(block: FusableBlock, x: torch.Tensor) -> torch.Tensor:
    """The whole block (residual included) on channels-last ``(N, C, H, W)``, without autograd.

    ``pwconv1`` runs as a oneDNN inner product with GELU fused in, ``pwconv2``
    with the residual add fused in; ``gamma`` is folded into ``pwconv2``'s
    weight and bias when there are more positions than hidden channels (the
    fold is then cheaper than a pass over the output), else applied to the
    output.
    """
    shortcut = x.permute(0, 2, 3, 1)  # (N, H, W, C): a view when channels-last
    h = block.norm(block.dwconv(x).permute(0, 2, 3, 1))
    h = torch.ops.mkldnn._linear_pointwise(h, block.pwconv1.weight, block.pwconv1.bias, 'gelu', [], 'none')
    if block.grn is not None:
        h = block.grn(h)
    weight, bias, gamma = block.pwconv2.weight, block.pwconv2.bias, block.gamma
    if gamma is None:
        out = torch.ops.mkldnn._linear_pointwise.binary(h, shortcut, weight, bias, 'add')
    elif h.numel() // h.shape[-1] > h.shape[-1]:
        out = torch.ops.mkldnn._linear_pointwise.binary(h, shortcut, weight * gamma[:, None], bias * gamma, 'add')
    else:
        out = torch.addcmul(shortcut, torch.ops.mkldnn._linear_pointwise(h, weight, bias, 'none', [], ''), gamma)
    return out.permute(0, 3, 1, 2)


def fast_forward(block: FusableBlock, x: torch.Tensor) -> torch.Tensor | None:
    """The block's output ``x + drop_path(residual(x))`` by the fast path, or None where it does not apply.

    Args:
        block: The block, which passes itself.
        x: The block's input ``(N, C, H, W)``.

    Returns:
        ``(N, C, H, W)`` from :func:`fused_inference` when
        :func:`fused_inference_applies`, else None: the caller runs its
        reference forward.
    """
    if fused_inference_applies(block, x):
        return fused_inference(block, x)
    return None
