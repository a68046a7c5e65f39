"""``torch.compile`` settings that keep compiled ConvNeXt at least as fast as eager on the CPU.

Two inductor options, applied on the CPU only (the user's own values win):

* ``force_layout_optimization``: inductor picks channels-last memory for
  convolutions per graph, counting only forward ``aten.convolution`` nodes
  (``torch/_inductor/graph.py`` ``decide_layout_opt``). The backward graph has
  only ``convolution_backward`` nodes, so it never gets the optimisation and
  the depthwise convolutions' gradients run in NCHW against channels-last
  activations: on a 2-core Xeon the ConvNeXt-T convolution backward took
  2.1x as long and a compiled training step 1.25x as long as eager
  (pytorch/pytorch#189239, open for torch 2.14). Forcing it makes the
  backward graph take the forward's decision: CPU inductor already lays every
  convolution out channels-last in forward graphs with oneDNN.
* ``cpp_wrapper``: the compiled graph calls its kernels from C++ instead of a
  Python wrapper; a ConvNeXt-T training step runs about 150 kernels and
  extern calls, whose Python glue cost about 4% of the step.

The package's API for your own scripts: use :func:`compile_model` instead of
``torch.compile``. The tools apply :func:`compile_options` to a config's
``compile`` setting (mmengine's ``Runner`` passes it to ``torch.compile``)
when they run on the CPU (:func:`convnext.launch.adapt_cfg_to_device`).
"""

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ['CPU_INDUCTOR_OPTIONS', 'compile_model', 'compile_options']

CPU_INDUCTOR_OPTIONS: dict[str, bool] = {'force_layout_optimization': True, 'cpp_wrapper': True}
"""Inductor options for the CPU (see the module docstring for why each)."""

INDUCTOR = 'inductor'
"""The backend the options are for."""


def compile_options(compile_cfg: bool | Mapping[str, Any] | None, device: str | torch.device) -> dict[str, Any] | None:
    """The keyword arguments of ``torch.compile`` for a ``compile`` setting, with the CPU options added.

    Args:
        compile_cfg: mmengine's ``cfg.compile``: None or False (no compilation),
            True (defaults) or the keyword arguments of ``torch.compile``.
        device: Where the model runs; the options are added for ``'cpu'``
            with the inductor backend only.

    Returns:
        None when nothing is compiled, else a new dict (``compile_cfg`` is not
        modified) whose ``options`` hold :data:`CPU_INDUCTOR_OPTIONS` under
        the user's own options. ``torch.compile`` refuses ``mode`` together
        with ``options``, so a ``mode`` alone becomes the options it stands
        for (``torch._inductor.list_mode_options``); given both, the setting
        is returned as it is.

    Raises:
        TypeError: ``compile_cfg`` is neither a bool, None nor a mapping, or
            its ``options`` is not a mapping.
    """
    if compile_cfg is None or compile_cfg is False:
        return None
    if compile_cfg is True:
        compile_cfg = {}
    if not isinstance(compile_cfg, Mapping):
        raise TypeError(f'compile: expected True, False or a dict of torch.compile arguments, got {compile_cfg!r}')
    kwargs = dict(compile_cfg)
    if torch.device(device).type != 'cpu' or kwargs.get('backend', INDUCTOR) != INDUCTOR:
        return kwargs
    options = kwargs.get('options') or {}
    if not isinstance(options, Mapping):
        raise TypeError(f'compile.options: expected a dict of inductor options, got {options!r}')
    if kwargs.get('mode') is not None:
        if options:
            return kwargs
        options = torch._inductor.list_mode_options(kwargs.pop('mode'))
    kwargs['options'] = {**CPU_INDUCTOR_OPTIONS, **options}
    return kwargs


def compile_model(model: nn.Module | Callable, device: str | torch.device | None = None, **kwargs: Any) -> Callable:
    """``torch.compile(model, **kwargs)`` with :data:`CPU_INDUCTOR_OPTIONS` when it runs on the CPU.

    Example::

        from convnext.compile import compile_model

        compiled = compile_model(backbone)            # CPU: both options added
        compiled = compile_model(backbone, mode='max-autotune')  # its options and both CPU options
        compiled = compile_model(backbone, options={'cpp_wrapper': False})

    Args:
        model: A module or function.
        device: Where it runs. Defaults to None: the device of the module's
            first parameter, else the CPU.
        **kwargs: ``torch.compile``'s keyword arguments; ``options`` given
            here override the CPU options.

    Returns:
        The compiled module or function.
    """
    if device is None:
        first = next(model.parameters(), None) if isinstance(model, nn.Module) else None
        device = first.device if first is not None else 'cpu'
    return torch.compile(model, **compile_options(kwargs, device))
