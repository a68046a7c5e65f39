"""Layer ids of ConvNeXt parameters for layer-wise learning-rate decay: the official rules, by name.

One place for the rules that :meth:`convnext.ConvNeXt.get_layer_depth` answers
and that :class:`convnext.LayerDecayOptimWrapperConstructor` applies by name to
other backbones named like ConvNeXt (``downsample_layers.i``, ``stages.i.j``,
e.g. ``mmpretrain.ConvNeXt``).
"""

DECAY_TYPES = ('layer_wise', 'stage_wise', 'single', 'group')
"""Rules for backbones named like ConvNeXt (``downsample_layers.i``, ``stages.i.j``)."""

DOWNSAMPLE, STAGES = 'downsample_layers', 'stages'
"""First components of ConvNeXt parameter names (``downsample_layers.i``, ``stages.i.j``)."""

TOKEN_NAMES = ('cls_token', 'mask_token', 'pos_embed')
"""Token parameters: layer id 0 and no weight decay."""

LAYER_WISE_STAGES = 4
"""The official ``layer_wise`` rule gives ids to four stages; the last one gets ``num_layers``."""

DEEP_STAGE = 2
"""The stage whose blocks share a ``layer_wise`` id by threes."""

BLOCKS_PER_LAYER_ID = 3
"""Blocks of the deep stage per ``layer_wise`` id (official ``3 + block_id // 3``)."""

SHALLOW_LAYER_IDS = {(0, True): 0, (0, False): 1, (1, True): 2, (1, False): 2, (2, True): 3}
"""``layer_wise`` ids of ``(stage, is downsampling layer)`` below the deep stage's blocks."""

SHALLOW_NUM_LAYERS, DEEP_NUM_LAYERS = 6, 12
"""Official ``num_layers``: 6 when the deep stage has at most :data:`MAX_SHALLOW_BLOCKS` blocks (T), else 12."""

MAX_SHALLOW_BLOCKS = 9
GROUP_NUM_LAYERS = 12
"""ConvNeXt-V2 ``optim_factory.py`` ``get_num_layer_for_convnext`` (``group``) has 12 ids."""


def default_num_layers(depths: tuple[int, ...], decay_type: str) -> int:
    """The official ``num_layers`` of a rule for a ConvNeXt with ``depths`` blocks per stage.

    ``layer_wise`` / ``stage_wise``: 6 when the deep (third) stage has at most 9
    blocks, else 12 (the official configs: 6 for T, 12 for S/B/L/XL);
    ``single``: ``sum(depths)``; ``group``: 12.
    """
    if decay_type == 'single':
        return sum(depths)
    if decay_type == 'group':
        return GROUP_NUM_LAYERS
    deep_blocks = depths[DEEP_STAGE] if len(depths) > DEEP_STAGE else max(depths)
    return SHALLOW_NUM_LAYERS if deep_blocks <= MAX_SHALLOW_BLOCKS else DEEP_NUM_LAYERS


def convnext_layer_id(name: str, decay_type: str, num_layers: int, depths: tuple[int, ...]) -> int:
    """The official layer id of a backbone parameter named like ConvNeXt.

    ``layer_wise`` and ``group``: ConvNeXt ``object_detection/mmcv_custom/
    layer_decay_optimizer_constructor.py`` ``get_num_layer_layer_wise`` and
    ``optim_factory.py`` ``get_num_layer_for_convnext`` (stem 0, stage 0 1,
    stage 1 2, stage 2 ``3 + block // 3``, stage 3 ``num_layers``);
    ``stage_wise``: ``semantic_segmentation/mmcv_custom/...``
    ``get_num_layer_stage_wise`` (downsampling layers 0, stage ``i`` ``i + 1``);
    ``single``: ConvNeXt-V2 ``optim_factory.py`` (one id per block). Tokens get
    0 and other parameters (``norm{i}``) ``num_layers + 1``.

    Args:
        name: Parameter name relative to the backbone, e.g. ``stages.2.4.pwconv1.weight``.
        decay_type: One of :data:`DECAY_TYPES`.
        num_layers: Number of layer ids.
        depths: Blocks per stage, e.g. from :func:`convnext_depths`.
    """
    parts = name.split('.')
    if parts[0] in TOKEN_NAMES:
        return 0
    if parts[0] not in (DOWNSAMPLE, STAGES):
        return num_layers + 1
    stage = int(parts[1])
    block = int(parts[2]) if parts[0] == STAGES else None
    if decay_type == 'stage_wise':
        return 0 if block is None else stage + 1
    if decay_type == 'single':
        first = sum(depths[:stage]) + 1
        return first if block is None else first + block
    if stage >= LAYER_WISE_STAGES:
        raise ValueError(
            f'decay_type={decay_type!r} defines layer ids for {LAYER_WISE_STAGES} stages; '
            f'parameter {name!r} is in stage {stage}'
        )
    if stage == LAYER_WISE_STAGES - 1:
        return num_layers
    if stage == DEEP_STAGE and block is not None:
        return DEEP_STAGE + 1 + block // BLOCKS_PER_LAYER_ID
    return SHALLOW_LAYER_IDS[(stage, block is None)]
