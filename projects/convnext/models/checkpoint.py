"""Loading ConvNeXt checkpoints of every published format into our names.

Our parameter names are the official ones (``downsample_layers.i.j``,
``stages.i.j.{dwconv,norm,pwconv1,grn,pwconv2,gamma}``, ``norm{i}``), with GRN
parameters shaped ``(1, 1, 1, C)``. :func:`convert_to_convnext` detects and
converts these formats:

- ``official``: ConvNeXt V1/V2 classification checkpoints (``model``,
  ``model_ema`` or a bare dict; head ``norm.*`` / ``head.*``);
- ``fcmae_sparse``: the FCMAE pre-training checkpoints written by the official
  ``main_pretrain.py`` (``encoder.`` prefix, MinkowskiEngine ``kernel`` /
  ``.ln`` / ``.linear`` names and layouts);
- ``fcmae_dense``: the released ``*_fcmae.pt`` weights (official names, GRN,
  no ``norm`` / ``head``);
- ``timm``: ``stem.0``, ``stages.i.blocks.j.conv_dw``, ``mlp.fc1``,
  ``mlp.grn.weight``, ``head.norm``, ``head.fc`` (1x1-conv shaped MLP weights
  of ``conv_mlp`` models too);
- ``mmpretrain``: ``state_dict`` with ``backbone.`` prefix, ``depthwise_conv``,
  ``pointwise_conv{1,2}``, ``norm3``, GRN shaped ``(C,)``, ``head.fc``;
- ``convnext``: our own names, bare or under ``backbone.`` (e.g. an mmengine
  checkpoint of a model using this backbone, or official det/seg weights).

The converted dict holds the backbone's keys without prefix; the
classification head as ``head.fc.{weight,bias}`` (mmpretrain's
``LinearClsHead`` names); the final classification norm as ``norm{last}``
(as mmpretrain's converter does); FCMAE decoder keys (``proj``,
``mask_token``, ``decoder``, ``pred``) unchanged.
"""

import logging
import math
import re
from collections.abc import Callable, Mapping

import torch
from mmengine.logging import print_log
from torch import nn

from ..serialization import read_checkpoint, strip_wrapper_prefix

FORMATS = ('official', 'fcmae_sparse', 'fcmae_dense', 'timm', 'mmpretrain', 'convnext')
"""Names of the checkpoint formats :func:`detect_format` tells apart."""

CONTAINER_KEYS = ('state_dict', 'model', 'model_ema', 'module')
"""Keys under which checkpoints store their weights, in order of preference."""

BACKBONE_PREFIX = 'backbone.'
"""Prefix of backbone keys in OpenMMLab model checkpoints."""

HEAD_PREFIX = 'head.'
"""Prefix of classifier keys in every format after conversion."""

FCMAE_EXTRA_PREFIXES = ('proj.', 'mask_token', 'decoder.', 'pred.')
"""FCMAE keys outside the encoder (official names), kept unchanged."""

NON_BACKBONE_PREFIXES = (HEAD_PREFIX, *FCMAE_EXTRA_PREFIXES)
"""Converted keys a backbone does not hold and :func:`load_pretrained` ignores."""

CFG_OPTION = 'model.backbone.init_cfg.checkpoint'
"""The config key users override to point at a local checkpoint file."""

LOCAL_FILE_HINT = f'pass the local file with --cfg-options {CFG_OPTION}=PATH'
"""How to use a downloaded copy when the backbone's checkpoint URL cannot be fetched."""

MAX_LISTED_KEYS = 20
"""At most this many keys are listed per kind in the load warning."""

GRN_SHAPE_PREFIX = (1, 1, 1)
"""Leading dimensions of official dense GRN parameters ``(1, 1, 1, C)``."""

POINTWISE_WEIGHT = re.compile(r'\.pwconv[12]\.weight$')
"""Keys of the blocks' pointwise weights: ``nn.Linear`` ``(out, in)`` or 1x1 ``nn.Conv2d`` ``(out, in, 1, 1)``."""

LINEAR_WEIGHT_DIMS = 2
"""Dimensions of an ``nn.Linear`` weight."""

CONV_WEIGHT_DIMS = 4
"""Dimensions of an ``nn.Conv2d`` weight."""

StateDict = dict[str, torch.Tensor]
Rule = tuple[str, str]


# --------------------------------------------------------------------------- containers


def unwrap_state_dict(obj: object) -> StateDict:
    """Returns the tensors of a checkpoint object, whatever its container.

    Takes ``state_dict``, ``model``, ``model_ema`` or ``module`` (in that
    order) or a bare dict of tensors, and strips a DDP ``module.`` prefix
    (:func:`~convnext.serialization.strip_wrapper_prefix`).

    Raises:
        ValueError: the object holds no dict of tensors.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f'A checkpoint must be a dict, got {type(obj).__name__}')
    for key in CONTAINER_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(
            f'The checkpoint holds no tensors; expected a dict of tensors or one under '
            f'{CONTAINER_KEYS}, got keys {sorted(obj)[:MAX_LISTED_KEYS]}'
        )
    return strip_wrapper_prefix(tensors)


# --------------------------------------------------------------------------- detection


def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Names the format of a state dict; one of :data:`FORMATS`.

    Raises:
        ValueError: the keys match no known ConvNeXt format.
    """
    keys = list(state_dict)
    if any(k.startswith('encoder.') or k.endswith('.kernel') for k in keys):
        return 'fcmae_sparse'
    if any('.depthwise_conv.' in k or '.pointwise_conv' in k for k in keys):
        return 'mmpretrain'
    if any(k.startswith('stem.') or re.match(r'stages\.\d+\.blocks\.', k) for k in keys):
        return 'timm'
    if any('.dwconv.' in k for k in keys):
        if any(k.startswith(BACKBONE_PREFIX) for k in keys) or any(re.match(r'norm\d+\.', k) for k in keys):
            return 'convnext'
        has_head = any(k.startswith(('norm.', HEAD_PREFIX)) for k in keys)
        has_grn = any('.grn.' in k for k in keys)
        return 'fcmae_dense' if has_grn and not has_head else 'official'
    raise ValueError(
        f'Unrecognised checkpoint format: keys {keys[:MAX_LISTED_KEYS]} match none of the '
        f'ConvNeXt formats {FORMATS} (official, FCMAE, timm, mmpretrain)'
    )


def _num_stages(keys: list[str], pattern: str) -> int:
    """Number of stages: one more than the largest stage index ``pattern`` captures."""
    indices = [int(m.group(1)) for k in keys if (m := re.match(pattern, k))]
    if not indices:
        raise ValueError(f'Cannot count the stages: no key matches {pattern!r}')
    return max(indices) + 1


# --------------------------------------------------------------------------- conversion


def _rename(key: str, rules: list[Rule]) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def _fix_shapes(state_dict: StateDict) -> StateDict:
    """GRN to ``(1, 1, 1, C)``; 1x1-conv-shaped pointwise weights to Linear ``(out, in)``."""
    fixed = {}
    for key, value in state_dict.items():
        if re.search(r'\.grn\.(gamma|beta)$', key):
            value = value.reshape(*GRN_SHAPE_PREFIX, -1)
        elif POINTWISE_WEIGHT.search(key) and value.dim() == CONV_WEIGHT_DIMS:
            value = value.flatten(1)
        fixed[key] = value
    return fixed


def _split_backbone(state_dict: StateDict) -> StateDict:
    """Strips ``backbone.``; keeps ``head.*``; other OpenMMLab modules' keys unchanged."""
    if not any(k.startswith(BACKBONE_PREFIX) for k in state_dict):
        return dict(state_dict)
    return {(k[len(BACKBONE_PREFIX) :] if k.startswith(BACKBONE_PREFIX) else k): v for k, v in state_dict.items()}


def _from_official(state_dict: StateDict) -> StateDict:
    last = _num_stages(list(state_dict), r'downsample_layers\.(\d+)\.')
    rules = [(r'^head\.(weight|bias)$', r'head.fc.\1'), (r'^norm\.', f'norm{last - 1}.')]
    return _fix_shapes({_rename(k, rules): v for k, v in state_dict.items()})


def _from_convnext(state_dict: StateDict) -> StateDict:
    return _fix_shapes(_split_backbone(state_dict))


def _from_mmpretrain(state_dict: StateDict) -> StateDict:
    rules = [(r'\.depthwise_conv\.', '.dwconv.'), (r'\.pointwise_conv([12])\.', r'.pwconv\1.')]
    return _fix_shapes({_rename(k, rules): v for k, v in _split_backbone(state_dict).items()})


def _from_timm(state_dict: StateDict) -> StateDict:
    last = _num_stages(list(state_dict), r'stages\.(\d+)\.')
    rules = [
        (r'^stem\.', 'downsample_layers.0.'),
        (r'^stages\.(\d+)\.downsample\.', r'downsample_layers.\1.'),
        (r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
        (r'\.conv_dw\.', '.dwconv.'),
        (r'\.mlp\.fc([12])\.', r'.pwconv\1.'),
        (r'\.mlp\.grn\.weight$', '.grn.gamma'),
        (r'\.mlp\.grn\.bias$', '.grn.beta'),
        (r'^head\.norm\.', f'norm{last - 1}.'),
    ]
    return _fix_shapes({_rename(k, rules): v for k, v in state_dict.items()})


def minkowski_kernel_to_conv(kernel: torch.Tensor) -> torch.Tensor:
    """Converts a 2-D MinkowskiEngine kernel to a dense ``nn.Conv2d`` weight.

    Args:
        kernel: ``(k*k, C_in, C_out)`` for a standard convolution or
            ``(k*k, C)`` for a depthwise one; Minkowski enumerates kernel
            offsets x-major, hence the final H/W swap (official remap).

    Returns:
        ``(C_out, C_in, k, k)`` or ``(C, 1, k, k)``.
    """
    size = math.isqrt(kernel.shape[0])
    if size * size != kernel.shape[0] or kernel.dim() not in (2, 3):
        raise ValueError(f'A Minkowski kernel must be (k*k, C) or (k*k, C_in, C_out), got {tuple(kernel.shape)}')
    if kernel.dim() == 3:
        _, in_dim, out_dim = kernel.shape
        weight = kernel.permute(2, 1, 0).reshape(out_dim, in_dim, size, size)
    else:
        weight = kernel.permute(1, 0).reshape(kernel.shape[1], 1, size, size)
    return weight.transpose(3, 2).contiguous()


def _from_fcmae_sparse(state_dict: StateDict) -> StateDict:
    converted = {}
    for key, value in state_dict.items():
        if not key.startswith('encoder.'):
            converted[key] = value  # decoder, proj, pred, mask_token: official names
            continue
        key = key[len('encoder.') :]
        if key.endswith('.kernel'):
            key, value = key[: -len('kernel')] + 'weight', minkowski_kernel_to_conv(value)
        else:
            key = re.sub(r'\.(ln|linear)\.(weight|bias)$', r'.\2', key)
        if key.endswith('bias') and value.dim() != 1:
            value = value.reshape(-1)  # Minkowski bias (1, C)
        converted[key] = value
    return _fix_shapes(converted)


CONVERTERS: dict[str, Callable[[StateDict], StateDict]] = {
    'official': _from_official,
    'fcmae_dense': _from_official,
    'convnext': _from_convnext,
    'fcmae_sparse': _from_fcmae_sparse,
    'timm': _from_timm,
    'mmpretrain': _from_mmpretrain,
}


def convert_to_convnext(state_dict: Mapping[str, torch.Tensor]) -> tuple[StateDict, str]:
    """Converts a ConvNeXt state dict of any known format to our names.

    Args:
        state_dict: Tensors of one of :data:`FORMATS` (already unwrapped from
            its container, see :func:`unwrap_state_dict`). Not modified.

    Returns:
        ``(converted, format_name)``: backbone keys without prefix, GRN shaped
        ``(1, 1, 1, C)``, the classifier as ``head.fc.*``, FCMAE decoder keys
        unchanged; ``format_name`` is the detected format.
    """
    format_name = detect_format(state_dict)
    return CONVERTERS[format_name](dict(state_dict)), format_name


# --------------------------------------------------------------------------- loading


def _select_prefix(state_dict: StateDict, prefix: str, source: str) -> StateDict:
    selected = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not selected:
        raise ValueError(
            f'No key of {source} starts with prefix {prefix!r}; its keys look like '
            f'{list(state_dict)[:3]} (the format is detected automatically, so prefix can be left out)'
        )
    return selected


def to_model_layout(expected: Mapping[str, torch.Tensor], loaded: StateDict) -> StateDict:
    """Pointwise weights in the layout the model was built with (a new dict).

    Converted checkpoints hold ``nn.Linear`` pointwise weights ``(out, in)``;
    a model built with ``linear_pw_conv=False`` (mmpretrain's 1x1-conv
    layout) expects ``(out, in, 1, 1)``, and the reverse for a model of the
    Linear layout: the same numbers, so they are reshaped; any other shape
    difference is left for :func:`_check_shapes` to report.

    Args:
        expected: The model's state dict (shapes only are read).
        loaded: Converted checkpoint tensors, our names.
    """
    fitted = {}
    for key, value in loaded.items():
        target = expected.get(key)
        if (
            target is not None
            and POINTWISE_WEIGHT.search(key)
            and {target.dim(), value.dim()} == {LINEAR_WEIGHT_DIMS, CONV_WEIGHT_DIMS}
            and target.shape[:LINEAR_WEIGHT_DIMS] == value.shape[:LINEAR_WEIGHT_DIMS]
            and target.numel() == value.numel()
        ):
            value = value.reshape(target.shape)
        fitted[key] = value
    return fitted


def _check_shapes(expected: Mapping[str, torch.Tensor], loaded: StateDict, source: str) -> None:
    for key, value in loaded.items():
        if key in expected and expected[key].shape != value.shape:
            raise ValueError(
                f'Shape mismatch for {key!r} in {source}: the checkpoint has {tuple(value.shape)}, '
                f'the model expects {tuple(expected[key].shape)} (a checkpoint of another arch?)'
            )


def _list_keys(keys: list[str]) -> str:
    shown = ', '.join(sorted(keys)[:MAX_LISTED_KEYS])
    more = len(keys) - MAX_LISTED_KEYS
    return shown + (f' ... and {more} more' if more > 0 else '')


def load_pretrained(module: nn.Module, checkpoint: str, prefix: str | None = None) -> None:
    """Loads a ConvNeXt checkpoint of any known format into ``module``.

    The format is detected and converted (:func:`convert_to_convnext`); the
    classifier and FCMAE decoder keys are ignored. Loading is non-strict: one
    warning lists the missing and unexpected keys.

    Args:
        module: A :class:`~convnext.models.ConvNeXt` backbone.
        checkpoint: A local path or an ``http(s)://`` URL.
        prefix: When given, only keys starting with it are used, with it
            stripped (e.g. ``'backbone.'``) before conversion. Defaults to None.

    Raises:
        FileNotFoundError: the file does not exist.
        RuntimeError: the URL cannot be downloaded.
        ValueError: unknown format, or a tensor whose shape differs from the
            model's (names the key and both shapes).
    """
    state_dict = unwrap_state_dict(read_checkpoint(checkpoint, LOCAL_FILE_HINT))
    if prefix:
        state_dict = _select_prefix(state_dict, prefix, checkpoint)
    converted, format_name = convert_to_convnext(state_dict)
    backbone = {k: v for k, v in converted.items() if not k.startswith(NON_BACKBONE_PREFIXES)}
    expected = module.state_dict()
    backbone = to_model_layout(expected, backbone)
    _check_shapes(expected, backbone, checkpoint)
    result = module.load_state_dict(backbone, strict=False)
    message = f'Loaded {checkpoint} ({format_name} format, {len(backbone)} backbone tensors)'
    if result.missing_keys or result.unexpected_keys:
        print_log(
            f'{message}; missing keys: [{_list_keys(result.missing_keys)}]; '
            f'unexpected keys: [{_list_keys(result.unexpected_keys)}]',
            logger='current',
            level=logging.WARNING,
        )
    else:
        print_log(message, logger='current', level=logging.INFO)
