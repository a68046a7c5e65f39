"""Whether a checkpoint's weights fit a model: the check behind ``load_from`` and ``tools/test.py CHECKPOINT``.

mmengine's ``Runner.load_checkpoint`` loads non-strictly and only logs what
does not match, so a checkpoint of another architecture, or a file without
model weights, is evaluated with random weights and exits 0.
:func:`check_checkpoint_fits` refuses such a file with one
:class:`CheckpointMismatchError` naming the file, the first key that does not
fit and both shapes:

- strict (``tools/test.py``, or the config's ``load_strict=True``): every model
  key must be in the checkpoint with the model's shape, and nothing else;
- otherwise (training's ``load_from``, e.g. fine-tuning a detector on other
  classes): mmengine's partial loading, unless not one key fits.

In both modes a file that holds no dict of tensors is refused.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import nn

from ..exceptions import CheckpointMismatchError
from ..serialization import WRAPPER_REVISE_KEYS

LOAD_STRICT = 'load_strict'
"""Config key: True makes the Runner refuse a checkpoint whose weights are not exactly the model's keys and
shapes (``tools/test.py`` sets it unless ``--allow-partial``); False or absent loads what fits, as mmengine."""

WEIGHTS_KEY = 'state_dict'
"""Where mmengine (and mmcv 1.x) checkpoints keep the model weights; a bare dict of tensors is taken whole."""

PARTIAL_FIX = 'load the keys that fit with tools/test.py --allow-partial or --cfg-options load_strict=False'
"""How a user loads a checkpoint partially on purpose."""

NO_FIT_FIX = 'backbone or classification weights go to model.backbone.init_cfg (type Pretrained), not load_from'
"""The usual reason no key fits: a backbone checkpoint given as a whole model's weights."""

Shape = tuple[int, ...] | None


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model whose ``state_dict`` a checkpoint holds: without DDP-like wrappers and test-time-augmentation shells.

    mmengine's ``load_state_dict`` unwraps the same two (``is_model_wrapper`` and ``BaseTTAModel``).
    """
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def checkpoint_weights(path: str, checkpoint: Any, revise_keys: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The model weights of ``checkpoint`` as mmengine's loader takes them, with ``revise_keys`` applied.

    Args:
        path: The file, named in the error.
        checkpoint: What was read from it.
        revise_keys: ``(pattern, replacement)`` rules applied to every key, in order.

    Returns:
        ``checkpoint['state_dict']`` (or the dict itself when it has none), keys revised.

    Raises:
        CheckpointMismatchError: ``checkpoint`` is not a dict, or holds no tensor where the weights should be.
    """
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(
            f'{path} holds a {type(checkpoint).__name__}, not model weights '
            f"(a dict of tensors, or a checkpoint with a '{WEIGHTS_KEY}' dict)"
        )
    weights = checkpoint.get(WEIGHTS_KEY, checkpoint)
    if not isinstance(weights, Mapping) or not any(isinstance(value, torch.Tensor) for value in weights.values()):
        keys = sorted(str(key) for key in checkpoint)
        raise CheckpointMismatchError(
            f"{path} holds no model weights: no tensor in its '{WEIGHTS_KEY}' or at its top level (keys {keys[:5]})"
        )
    revised = {}
    for key, value in weights.items():
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return revised


def _shape(value: Any) -> Shape:
    return tuple(value.shape) if hasattr(value, 'shape') else None


def _fits(saved: Any, current: Any) -> bool:
    """Whether ``saved`` loads into ``current`` as a weight: same shape, and not a scalar such as BN's counter."""
    shape = _shape(saved)
    return bool(shape) and shape == _shape(current)


def first_misfit(model_state: Mapping[str, Any], weights: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first key that does not fit, in the model's order, and a count of all of them; None when all fit.

    Returns:
        ``(what, counts)``: e.g. ``'backbone.stem.weight has shape (8, 3) in the checkpoint, (16, 3) in the model'``
        and ``'1 shape differs, 0 model keys missing, 2 unexpected'``.
    """
    missing = [key for key in model_state if key not in weights]
    differ = [key for key in model_state if key in weights and _shape(weights[key]) != _shape(model_state[key])]
    unexpected = [key for key in weights if key not in model_state]
    misfits = {*missing, *differ}
    first = next((key for key in model_state if key in misfits), None)
    if first is None and not unexpected:
        return None
    if first is None:
        what = f'checkpoint key {unexpected[0]} {_shape(weights[unexpected[0]])} is not in the model'
    elif first in weights:
        what = (
            f'{first} has shape {_shape(weights[first])} in the checkpoint, {_shape(model_state[first])} in the model'
        )
    else:
        what = f'model key {first} {_shape(model_state[first])} is not in the checkpoint'
    counts = f'{len(differ)} shapes differ, {len(missing)} model keys missing, {len(unexpected)} unexpected'
    return what, counts


def check_checkpoint_fits(
    path: str,
    checkpoint: Any,
    model: nn.Module,
    strict: bool,
    revise_keys: Sequence[tuple[str, str]] = WRAPPER_REVISE_KEYS,
) -> None:
    """Refuses a checkpoint whose weights do not fit ``model`` (see the module docstring for the two modes).

    Args:
        path: The checkpoint file, named in the error.
        checkpoint: What was read from it.
        model: The model it is loaded into (wrappers are looked through).
        strict: Every model key with its shape and no other key; else at least one weight (not a scalar) that fits.
        revise_keys: mmengine's key revisions, applied before comparing. Defaults to stripping ``module.``.

    Raises:
        CheckpointMismatchError: One line naming ``path``, the first key that does not fit and both shapes.
    """
    weights = checkpoint_weights(path, checkpoint, revise_keys)
    model_state = unwrap_model(model).state_dict()
    misfit = first_misfit(model_state, weights)
    if misfit is None:
        return
    what, counts = misfit
    if strict:
        raise CheckpointMismatchError(f'{path} does not fit the model: {what} ({counts}); {PARTIAL_FIX}')
    if not any(_fits(weights.get(key), value) for key, value in model_state.items()):
        raise CheckpointMismatchError(f'{path} fits none of the model keys: {what} ({counts}); {NO_FIT_FIX}')
