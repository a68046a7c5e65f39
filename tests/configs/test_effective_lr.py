"""What the optimizer of every training config actually does: lr and weight decay per parameter group.

The other config tests compare a config's literals with a table. This one builds the model (real depths, tiny
widths: no layer-decay rule depends on the width), the optimizer wrapper and the parameter schedulers the way
mmengine's Runner does, steps the schedulers as ``ParamSchedulerHook`` does, and checks the learning rate of
representative parameters (stem, a middle block, the last block, the head) at the first iteration, the end of the
warm-up, the middle and the last iteration, and the weight decay of their groups.

The expected values come from :data:`RECIPES` (the papers' numbers, each row citing its table) and the official
formulas written once below: the ConvNeXt V2 base-lr rule ``lr = base_lr * batch / 256``
(ConvNeXt-V2 ``main_finetune.py`` / ``main_pretrain.py``; ConvNeXt V1 tables give the lr itself), the layer ids of
the official layer-decay rules (ConvNeXt ``optim_factory.py`` ``get_num_layer_for_convnext``, ConvNeXt-V2
``optim_factory.py`` ``get_num_layer_for_convnext_single``, ConvNeXt ``semantic_segmentation`` and
``object_detection`` ``layer_decay_optimizer_constructor.py``), the schedules (ConvNeXt ``utils.py``
``cosine_scheduler``, ConvNeXt-V2 ``lr_sched.py`` ``adjust_learning_rate``: linear warm-up from 0, half-cosine
to ``min_lr * lr_scale``; mmdet's step and mmseg's poly schedules of the official ConvNeXt detection and
segmentation configs) and the official no-weight-decay rules.
"""

import math
import re
import warnings
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import NamedTuple

import mmengine.config.utils
import pytest
from mmengine.config import Config
from mmengine.hooks import ParamSchedulerHook
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import MODELS, PARAM_SCHEDULERS, init_default_scope
from torch.optim import SGD

from convnext.launch import adapt_cfg_to_device

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'

BLR_BATCH = 256
"""ConvNeXt V2 tables give a base lr for this batch: ``lr = base_lr * total_batch / 256``."""

TINY_CHANNELS = [8, 16, 32, 64]
"""Widths of the built models; the depths are the real ones."""

ITERS_PER_EPOCH = {'imagenet': 10, 'coco': 1250}
"""Iterations per epoch of the simulated runs. Any value works for the per-iteration cosine schedules; COCO's
must exceed the 500 warm-up iterations of the detection schedule (real COCO at batch 16: 7330)."""

REL_TOL = 1e-3
"""Relative tolerance of every lr check (mmengine's and the official per-iteration formulas agree to rounding)."""

WARMUP_START_MAX = 1e-3
"""The official warm-up starts at 0; mmengine's ``LinearLR`` at ``start_factor`` (at most 1e-3) of the peak."""

# ConvNeXt section 3 ("ConvNeXt variants") and ConvNeXt V2 appendix A.1: blocks per stage.
DEPTHS = {
    'atto': (2, 2, 6, 2),
    'femto': (2, 2, 6, 2),
    'pico': (2, 2, 6, 2),
    'nano': (2, 2, 8, 2),
    'tiny': (3, 3, 9, 3),
    'small': (3, 3, 27, 3),
    'base': (3, 3, 27, 3),
    'large': (3, 3, 27, 3),
    'xlarge': (3, 3, 27, 3),
    'huge': (3, 3, 27, 3),
}


# --------------------------------------------------------------------------- official formulas


class Cosine(NamedTuple):
    """Per-iteration linear warm-up from 0, then half-cosine to ``min_lr * lr_scale`` (ConvNeXt ``cosine_scheduler``,
    ConvNeXt-V2 ``adjust_learning_rate``; the minimum of a group is scaled by its ``lr_scale``)."""

    epochs: int
    warmup_epochs: int
    min_lr: float
    data: str = 'imagenet'

    def iterations(self) -> dict[str, int]:
        """The checked iterations by name."""
        length = ITERS_PER_EPOCH[self.data]
        warmup, total = self.warmup_epochs * length, self.epochs * length
        points = {'first': 0, 'middle': warmup + (total - warmup) // 2, 'last': total - 1}
        if warmup:
            points['end of warm-up'] = warmup
        return points

    def lr(self, step: int, peak: float, scale: float) -> float:
        """The official lr at iteration ``step`` of a group with peak lr ``peak`` and layer-decay factor ``scale``."""
        length = ITERS_PER_EPOCH[self.data]
        warmup, total = self.warmup_epochs * length, self.epochs * length
        if step < warmup:
            return peak * step / warmup
        final = self.min_lr * scale
        return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


class Step(NamedTuple):
    """mmdet's 3x schedule of the official ConvNeXt COCO configs: linear warm-up over ``warmup_iters`` from
    ``warmup_ratio``, lr x ``gamma`` at each milestone epoch. The official configs set only ``lr_config =
    dict(step=[27, 33])`` and inherit the warm-up of mmdet 2.x ``configs/_base_/schedules/schedule_1x.py``
    (``warmup='linear', warmup_iters=500, warmup_ratio=0.001``)."""

    epochs: int = 36
    milestones: tuple[int, ...] = (27, 33)
    gamma: float = 0.1
    warmup_iters: int = 500
    warmup_ratio: float = 1e-3
    data: str = 'coco'

    def iterations(self) -> dict[str, int]:
        """The checked iterations by name."""
        length = ITERS_PER_EPOCH[self.data]
        first_step = self.milestones[0] * length
        return {
            'first': 0,
            'end of warm-up': self.warmup_iters,
            'middle': (self.epochs * length) // 2,
            'after first step': first_step,
            'last': self.epochs * length - 1,
        }

    def lr(self, step: int, peak: float, scale: float) -> float:
        """The official lr at iteration ``step``; ``scale`` is already in ``peak``."""
        length = ITERS_PER_EPOCH[self.data]
        factor = self.gamma ** sum(step >= milestone * length for milestone in self.milestones)
        if step < self.warmup_iters:
            factor *= self.warmup_ratio + (1 - self.warmup_ratio) * step / self.warmup_iters
        return peak * factor


class Poly(NamedTuple):
    """mmseg's schedule of the official ConvNeXt ADE20K configs (mmseg ``configs/convnext``): linear warm-up from
    ``warmup_ratio``, then poly (power 1) reaching ``min_lr`` at the last iteration. (mmcv 1.x's poly of the original
    runs ran from iteration 0 over all iterations: at most ``warmup_iters / max_iters`` = 0.9% apart.)"""

    max_iters: int = 160000
    warmup_iters: int = 1500
    warmup_ratio: float = 1e-6
    power: float = 1.0
    min_lr: float = 0.0

    def iterations(self) -> dict[str, int]:
        """The checked iterations by name."""
        middle = self.warmup_iters + (self.max_iters - self.warmup_iters) // 2
        return {'first': 0, 'end of warm-up': self.warmup_iters, 'middle': middle, 'last': self.max_iters - 1}

    def lr(self, step: int, peak: float, scale: float) -> float:
        """The official lr at iteration ``step``; ``scale`` is already in ``peak``."""
        if step < self.warmup_iters:
            return peak * (self.warmup_ratio + (1 - self.warmup_ratio) * step / self.warmup_iters)
        progress = (step - self.warmup_iters) / (self.max_iters - self.warmup_iters - 1)
        return (peak - self.min_lr) * (1 - progress) ** self.power + self.min_lr


class Decay(NamedTuple):
    """Layer-wise lr decay: ``lr_scale = rate ** (num_layers + 1 - layer_id)``."""

    rate: float
    rule: str
    num_layers: int | None = None
    """None: the rule's own (``group``: 12; ``single``: ``sum(depths)``)."""


def official_layer_id(name: str, rule: str, depths: tuple[int, ...], num_layers: int) -> int:
    """Layer id of a parameter under an official rule; ``num_layers + 1`` outside the backbone.

    ``layer_wise`` and ``group`` (three blocks of stage 3 share an id): ConvNeXt ``get_num_layer_for_convnext``
    and the detection ``get_num_layer_layer_wise``; ``stage_wise``: the segmentation ``get_num_layer_stage_wise``;
    ``single`` (one id per block): ConvNeXt-V2 ``get_num_layer_for_convnext_single``.
    """
    if not name.startswith('backbone.'):
        return num_layers + 1
    kind, stage, *rest = name.split('.')[1:]
    stage = int(stage)
    block = int(rest[0]) if kind == 'stages' else None
    if kind not in ('downsample_layers', 'stages'):
        return num_layers + 1
    if rule == 'stage_wise':
        return 0 if block is None else stage + 1
    if rule == 'single':
        return sum(depths[:stage]) + 1 + (block or 0)
    if stage == 3:
        return num_layers
    if stage == 2 and block is not None:
        return 3 + block // 3
    return {(0, True): 0, (0, False): 1, (1, True): 2, (1, False): 2, (2, True): 3}[(stage, block is None)]


def official_no_decay(name: str, ndim: int, rule: str) -> bool:
    """Whether a parameter gets no weight decay.

    ``fb``: 1-D tensors, biases, layer scale and GRN ``gamma``/``beta`` (ConvNeXt-V2 ``optim_factory.py``
    ``get_parameter_groups`` after commit 2553895; for V1 models the same as ConvNeXt's 1-D-or-bias rule).
    ``timm``: 1-D tensors and biases only (timm 0.3.2 ``add_weight_decay``, used by ConvNeXt-V2
    ``main_pretrain.py``: the FCMAE GRN parameters and mask token are decayed).
    """
    flat_or_bias = ndim <= 1 or name.endswith('.bias')
    return flat_or_bias if rule == 'timm' else flat_or_bias or name.endswith(('.gamma', '.beta'))


# --------------------------------------------------------------------------- the papers' numbers


class Recipe(NamedTuple):
    """The published recipe of one config."""

    source: str
    lr: float
    """The table's learning rate; with ``blr`` the base lr of the V2 rule."""
    batch: int
    weight_decay: float
    schedule: Cosine | Step | Poly
    decay: Decay | None = None
    blr: bool = False
    no_decay_rule: str = 'fb'

    @property
    def peak_lr(self) -> float:
        """The lr at the end of the warm-up, before layer decay."""
        return self.lr * self.batch / BLR_BATCH if self.blr else self.lr


V1_T5 = 'ConvNeXt appendix Table 5'
V1_T6 = 'ConvNeXt appendix Table 6'
V2_T8, V2_T9, V2_T10, V2_T11 = (f'ConvNeXt V2 appendix Table {n}' for n in (8, 9, 10, 11))
V2_T12, V2_T13 = 'ConvNeXt V2 appendix Table 12', 'ConvNeXt V2 appendix Table 13'
FB_DET = 'ConvNeXt object_detection/configs/convnext (official; appendix A.3)'
V1_DET_OWN = 'not released: Mask R-CNN T values with the Cascade table drop path (appendix A.3 sweep)'
V2_DET = 'ConvNeXt V2 appendix A.3 (lr 1e-4, batch 32, decay swept in {0.9, 0.95})'
V2_CASCADE = 'not in the papers: V1 Cascade schedule, V2 appendix A.3 lr and decay'
FB_SEG = 'ConvNeXt semantic_segmentation/configs/convnext (official; appendix A.3, Table 4)'
V2_SEG = 'ConvNeXt V2 appendix A.4 (lr swept in {1e-4, 2e-4, 3e-4}, decay in {0.8, 0.9})'

MIN_LR = 1e-6
"""``--min_lr`` default of ConvNeXt ``main.py`` and ConvNeXt-V2 ``main_finetune.py``
(``main_pretrain.py``: 0)."""


def _v1_sup(epochs: int, warmup: int) -> Recipe:
    return Recipe(V1_T5, 4e-3, 4096, 0.05, Cosine(epochs, warmup, MIN_LR))


def _v1_ft(decay: float) -> Recipe:
    return Recipe(V1_T6, 5e-5, 512, 1e-8, Cosine(30, 0, MIN_LR), Decay(decay, 'group'))


def _v2_in22k(decay: Decay) -> Recipe:
    return Recipe(V2_T12, 2.5e-4, 4096, 0.05, Cosine(90, 5, MIN_LR), decay, blr=True)


def _v2_22k_ft(decay: Decay, epochs: int) -> Recipe:
    return Recipe(V2_T13, 2.5e-5, 512, 1e-8, Cosine(epochs, 0, MIN_LR), decay, blr=True)


def _v2_fcmae_ft(source: str, blr: float, wd: float, epochs: int, warmup: int, decay: Decay) -> Recipe:
    return Recipe(source, blr, 1024, wd, Cosine(epochs, warmup, MIN_LR), decay, blr=True)


def _fcmae(epochs: int) -> Recipe:
    return Recipe(V2_T8, 1.5e-4, 4096, 0.05, Cosine(epochs, 40, 0.0), blr=True, no_decay_rule='timm')


def _det(source: str, lr: float, decay: float, num_layers: int, batch: int = 16) -> Recipe:
    return Recipe(source, lr, batch, 0.05, Step(), Decay(decay, 'layer_wise', num_layers))


def _seg(source: str, num_layers: int, lr: float = 1e-4) -> Recipe:
    return Recipe(source, lr, 16, 0.05, Poly(), Decay(0.9, 'stage_wise', num_layers))


GROUP, SINGLE = 'group', 'single'
RECIPES: dict[str, Recipe] = {
    **{f'convnext_{s}_sup_300e_in1k.py': _v1_sup(300, 20) for s in 'tsbl'},
    **{f'convnext_{s}_sup_90e_in22k.py': _v1_sup(90, 5) for s in ('t', 's', 'b', 'l', 'xl')},
    **{f'convnext_{s}_in22k-ft_30e_in1k{r}.py': _v1_ft(0.8) for s in ('t', 's', 'b', 'l', 'xl') for r in ('', '_384')},
    **{f'convnext_{s}_in1k-ft_30e_in1k_384.py': _v1_ft(0.7) for s in 'bl'},
    # The V2 paper trains its supervised baselines (Table 14) with ConvNeXt's Table 5 recipe.
    **{f'convnextv2_{s}_sup_300e_in1k.py': _v1_sup(300, 20) for s in 'tbl'},
    **{f'convnextv2_{s}_fcmae-in1k-ft_90e_in22k.py': _v2_in22k(Decay(0.9, SINGLE)) for s in 'nt'},
    **{f'convnextv2_{s}_fcmae-in1k-ft_90e_in22k.py': _v2_in22k(Decay(0.8, GROUP)) for s in 'bl'},
    # Group-wise decay for Base and Large only (appendix A.2): Huge decays per block.
    'convnextv2_h_fcmae-in1k-ft_90e_in22k.py': _v2_in22k(Decay(0.8, SINGLE)),
    **{
        f'convnextv2_{s}_in22k-ft_90e_in1k{r}.py': _v2_22k_ft(Decay(0.9, SINGLE), 90)
        for s in 'nt'
        for r in ('', '_384')
    },
    **{
        f'convnextv2_{s}_in22k-ft_30e_in1k{r}.py': _v2_22k_ft(Decay(0.8, GROUP), 30) for s in 'bl' for r in ('', '_384')
    },
    **{f'convnextv2_h_in22k-ft_30e_in1k_{r}.py': _v2_22k_ft(Decay(0.85, SINGLE), 30) for r in (384, 512)},
    'convnextv2_a_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T9, 2e-4, 0.3, 600, 0, Decay(0.9, SINGLE)),
    'convnextv2_f_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T9, 2e-4, 0.05, 600, 0, Decay(0.9, SINGLE)),
    'convnextv2_p_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T9, 2e-4, 0.3, 600, 0, Decay(0.9, SINGLE)),
    'convnextv2_n_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T9, 2e-4, 0.3, 600, 0, Decay(0.9, SINGLE)),
    'convnextv2_t_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T10, 8e-4, 0.05, 300, 40, Decay(0.9, SINGLE)),
    # Table 11 prints 6.25e-3 for B/L; ConvNeXt-V2 TRAINING.md (the released commands) uses 6.25e-4.
    **{
        f'convnextv2_{s}_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T11, 6.25e-4, 0.05, 100, 20, Decay(0.6, GROUP))
        for s in 'bl'
    },
    'convnextv2_h_fcmae-ft_in1k.py': _v2_fcmae_ft(V2_T11, 1.25e-3, 0.05, 50, 10, Decay(0.75, SINGLE)),
    **{f'fcmae_convnextv2_{s}_800e_in1k.py': _fcmae(800) for s in 'afpntblh'},
    **{f'fcmae_convnextv2_{s}_1600e_in1k.py': _fcmae(1600) for s in 'blh'},
    'mask_rcnn_convnext_t_3x.py': _det(FB_DET, 1e-4, 0.95, 6),
    **{f'mask_rcnn_convnext_{s}_3x.py': _det(V1_DET_OWN, 1e-4, 0.95, 12) for s in 'sb'},
    **{f'mask_rcnn_convnext_{s}_in22k_3x.py': _det(V1_DET_OWN, 1e-4, 0.95, 12) for s in ('l', 'xl')},
    'cascade_mask_rcnn_convnext_t_3x.py': _det(FB_DET, 2e-4, 0.7, 6),
    'cascade_mask_rcnn_convnext_s_3x.py': _det(FB_DET, 2e-4, 0.7, 12),
    'cascade_mask_rcnn_convnext_b_3x.py': _det(FB_DET, 2e-4, 0.8, 12),
    'cascade_mask_rcnn_convnext_b_in22k_3x.py': _det(FB_DET, 1e-4, 0.8, 12),
    'cascade_mask_rcnn_convnext_l_in22k_3x.py': _det(FB_DET, 1e-4, 0.7, 12),
    'cascade_mask_rcnn_convnext_xl_in22k_3x.py': _det(FB_DET, 1e-4, 0.7, 12),
    **{f'mask_rcnn_convnextv2_{s}_lsj_3x.py': _det(V2_DET, 1e-4, 0.95, 6, batch=32) for s in 'afpnt'},
    'mask_rcnn_convnextv2_b_lsj_3x.py': _det(V2_DET, 1e-4, 0.95, 12, batch=32),
    **{f'mask_rcnn_convnextv2_{s}_lsj_3x.py': _det(V2_DET, 1e-4, 0.9, 12, batch=32) for s in 'lh'},
    **{f'cascade_mask_rcnn_convnextv2_{s}_3x.py': _det(V2_CASCADE, 1e-4, 0.9, 12) for s in 'blh'},
    'upernet_convnext_t_160k_ade20k_512.py': _seg(FB_SEG, 6),
    **{f'upernet_convnext_{s}_160k_ade20k_512.py': _seg(FB_SEG, 12) for s in 'sb'},
    **{f'upernet_convnext_{s}_in22k_160k_ade20k_640.py': _seg(FB_SEG, 12) for s in 'bl'},
    'upernet_convnext_xl_in22k_160k_ade20k_640.py': _seg(FB_SEG, 12, lr=8e-5),
    'upernet_convnextv2_t_160k_ade20k_512.py': _seg(V2_SEG, 6),
    **{f'upernet_convnextv2_{s}_160k_ade20k_512.py': _seg(V2_SEG, 12) for s in 'blh'},
    'upernet_convnextv2_h_in22k_160k_ade20k_640.py': _seg(V2_SEG, 12),
}
DEMO_RECIPES: dict[str, Recipe] = {
    # Not a paper recipe: the CPU demo trains from scratch without layer decay (its leaf's header).
    'upernet_convnextv2_a_demo.py': Recipe(
        'the segmentation demo', 2e-3, 4, 0.05, Poly(400, 60, 1e-3), Decay(1.0, 'stage_wise', 6)
    ),
}
"""The leaves that ``tools/demo.py`` writes into its work dir (:func:`_write_demo_configs`), by file name."""
ALL_RECIPES = {**RECIPES, **DEMO_RECIPES}
CONFIG_NAMES = sorted(ALL_RECIPES)
DEMO_CONFIGS: dict[str, Path] = {}
"""File name -> path of the leaves written by the demos for this module."""

TRAINING_PREFIXES = ('convnext', 'fcmae_', 'mask_rcnn_', 'cascade_mask_rcnn_', 'upernet_')


def test_every_training_config_has_a_recipe() -> None:
    found = {path.name for path in CONFIG_DIR.glob('*.py') if path.name.startswith(TRAINING_PREFIXES)}
    assert found == set(RECIPES)


@pytest.fixture(scope='module', autouse=True)
def _write_demo_configs(load_tool: Callable[[str], ModuleType], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Writes the segmentation demo's leaf with its default options, as ``tools/demo.py segmentation`` does."""
    demo = load_tool('tools/demos/segmentation.py')
    folder = tmp_path_factory.mktemp('segmentation_demo')
    config = demo.write_config(demo.parse_args([]), folder / 'data', folder)
    DEMO_CONFIGS[config.name] = config


# --------------------------------------------------------------------------- building as the Runner does


@pytest.fixture(scope='module', autouse=True)
def _read_host_metafiles_once() -> Iterator[None]:
    """mmengine reads every metafile of a host package for each ``host::`` base of a config (about a second each
    time); they do not change during the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmengine.config.utils, 'load', cache(mmengine.config.utils.load))
        yield


HEAD_PARAM = {
    'ImageClassifier': 'head.fc.weight',
    'FCMAE': 'pred.weight',
    'MaskRCNN': 'rpn_head.rpn_conv.weight',
    'CascadeRCNN': 'rpn_head.rpn_conv.weight',
    'EncoderDecoder': 'decode_head.conv_seg.weight',
}
"""A weight outside the backbone (lr scale 1) per model type."""


class Built(NamedTuple):
    """What a config's Runner would optimise: groups of the representative parameters and their lrs."""

    cfg: Config
    depths: tuple[int, ...]
    params: dict[str, str]
    """Label -> parameter name."""
    groups: dict[str, dict]
    """Parameter name -> its optimizer group."""
    ndims: dict[str, int]
    """Parameter name -> number of dimensions."""
    lrs: dict[str, dict[str, float]]
    """Iteration label -> parameter name -> lr."""


def _tiny_model_cfg(cfg: Config) -> tuple[Config, tuple[int, ...]]:
    """Tiny widths, real depths, no pretrained weights, heads' input widths to match."""
    model = cfg.model
    depths = DEPTHS[model.backbone.arch]
    model.backbone.update(arch=dict(depths=list(depths), channels=TINY_CHANNELS), init_cfg=None)
    if model.get('neck') is not None and 'in_channels' in model.neck:
        model.neck.in_channels = TINY_CHANNELS
    if model.get('head') is not None and 'in_channels' in model.head:
        model.head.in_channels = TINY_CHANNELS[-1]
    if model.get('decode_head') is not None:
        model.decode_head.in_channels = TINY_CHANNELS
        model.auxiliary_head.in_channels = TINY_CHANNELS[2]
    return cfg, depths


def _representatives(names: set[str], depths: tuple[int, ...], model_type: str) -> dict[str, str]:
    middle, last = f'backbone.stages.2.{depths[2] // 2}', f'backbone.stages.3.{depths[3] - 1}'
    wanted = {
        'stem': 'backbone.downsample_layers.0.0.weight',
        'stem bias': 'backbone.downsample_layers.0.0.bias',
        'middle block': f'{middle}.pwconv1.weight',
        'middle block norm': f'{middle}.norm.weight',
        'middle block layer scale': f'{middle}.gamma',
        'middle block GRN': f'{middle}.grn.gamma',
        'last block': f'{last}.pwconv2.weight',
        'head': HEAD_PARAM[model_type],
    }
    return {label: name for label, name in wanted.items() if name in names}


def _build_schedulers(cfg: Config, optim_wrapper: object, epoch_length: int) -> list:
    """``Runner._build_param_scheduler``: default ``end`` from the train loop, ``epoch_length`` for conversion."""
    if 'max_epochs' in cfg.train_cfg:
        max_epochs, max_iters = cfg.train_cfg.max_epochs, cfg.train_cfg.max_epochs * epoch_length
    else:
        max_epochs, max_iters = None, cfg.train_cfg.max_iters
    schedulers = []
    for scheduler in cfg.param_scheduler:
        scheduler = dict(scheduler)
        scheduler.setdefault('end', max_epochs if scheduler.get('by_epoch', True) else max_iters)
        default_args = dict(optimizer=optim_wrapper, epoch_length=epoch_length)
        schedulers.append(PARAM_SCHEDULERS.build(scheduler, default_args=default_args))
    return schedulers


def _watched_groups(groups: list[dict]) -> list[dict]:
    """Plain copies of the distinct ``groups`` (params, lr, weight decay) for the schedulers to act on.

    mmengine's schedulers update every group from its own initial value, so the representative groups alone
    follow the same lrs as in the full optimizer (which may hold one group per parameter: slow to step).
    """
    distinct = {id(group): group for group in groups}.values()
    return [dict(params=group['params'][:1], lr=group['lr'], weight_decay=group['weight_decay']) for group in distinct]


def _run_schedule(schedulers: list, points: dict[str, int], epoch_length: int, watched: dict[str, dict]) -> dict:
    """Steps the schedulers as ``ParamSchedulerHook`` does and records the watched groups' lr at ``points``."""
    hook, runner = ParamSchedulerHook(), SimpleNamespace(param_schedulers=schedulers)
    by_step = {step: label for label, step in points.items()}
    lrs: dict[str, dict[str, float]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "scheduler.step() before optimizer.step()": no training here
        for step in range(max(points.values()) + 1):
            if step in by_step:
                lrs[by_step[step]] = {name: group['lr'] for name, group in watched.items()}
            hook.after_train_iter(runner, step)
            if (step + 1) % epoch_length == 0:
                hook.after_train_epoch(runner)
    return lrs


@cache
def load(name: str) -> Config:
    """A config as written (in ``configs/``, or a demo's leaf), parsed once per session."""
    return Config.fromfile(DEMO_CONFIGS.get(name, CONFIG_DIR / name))


@cache
def built(name: str) -> Built:
    """Builds a config's model, optimizer wrapper and schedulers once per session (tools/train.py's CPU path)."""
    cfg, _ = adapt_cfg_to_device(load(name), distributed=False)
    cfg, depths = _tiny_model_cfg(cfg)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(param): param_name for param_name, param in model.named_parameters()}
    ndims = {param_name: param.ndim for param_name, param in model.named_parameters()}
    groups = {names[id(p)]: group for group in optim_wrapper.optimizer.param_groups for p in group['params']}
    params = _representatives(set(groups), depths, type(model).__name__)
    schedule = ALL_RECIPES[name].schedule
    epoch_length = ITERS_PER_EPOCH.get(getattr(schedule, 'data', None), 1)
    watched = _watched_groups([groups[param] for param in params.values()])
    schedulers = _build_schedulers(cfg, OptimWrapper(SGD(watched)), epoch_length)
    first_param = {id(group['params'][0]): group for group in watched}
    watched_of = {param: first_param[id(groups[param]['params'][0])] for param in params.values()}
    lrs = _run_schedule(schedulers, schedule.iterations(), epoch_length, watched_of)
    return Built(cfg, depths, params, groups, ndims, lrs)


def _layer_scale(recipe: Recipe, name: str, depths: tuple[int, ...]) -> float:
    if recipe.decay is None:
        return 1.0
    default_layers = sum(depths) if recipe.decay.rule == SINGLE else 12
    num_layers = recipe.decay.num_layers or default_layers
    layer_id = official_layer_id(name, recipe.decay.rule, depths, num_layers)
    return recipe.decay.rate ** (num_layers + 1 - layer_id)


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_recipe_batch(name: str) -> None:
    """The recipe's total batch is ``auto_scale_lr.base_batch_size`` and the per-GPU batch divides it."""
    cfg, recipe = built(name).cfg, ALL_RECIPES[name]
    assert cfg.auto_scale_lr.base_batch_size == recipe.batch, recipe.source
    assert recipe.batch % cfg.train_dataloader.batch_size == 0


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_weight_decay_per_group(name: str) -> None:
    result, recipe = built(name), ALL_RECIPES[name]
    wrong = {}
    for label, param in result.params.items():
        group = result.groups[param]
        no_decay = official_no_decay(param, result.ndims[param], recipe.no_decay_rule)
        expected = 0.0 if no_decay else recipe.weight_decay
        if group['weight_decay'] != pytest.approx(expected, rel=REL_TOL):
            wrong[label] = (param, group['weight_decay'], expected)
    assert not wrong, f'{recipe.source}: (param, weight decay, expected) {wrong}'


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_lr_of_representative_groups(name: str) -> None:
    """lr of stem, middle block, last block and head at the first, end-of-warm-up, middle and last iteration."""
    result, recipe = built(name), ALL_RECIPES[name]
    assert {'stem', 'middle block', 'last block', 'head'} <= set(result.params)
    wrong = []
    for point, step in recipe.schedule.iterations().items():
        for label, param in result.params.items():
            scale = _layer_scale(recipe, param, result.depths)
            peak = recipe.peak_lr * scale
            expected = recipe.schedule.lr(step, peak, scale)
            actual = result.lrs[point][param]
            ok = actual <= WARMUP_START_MAX * peak if expected == 0 else math.isclose(actual, expected, rel_tol=REL_TOL)
            if not ok:
                wrong.append(f'{point} (iteration {step}) {label}: lr {actual:.4g}, expected {expected:.4g}')
    assert not wrong, f'{recipe.source}:\n' + '\n'.join(wrong)


LARGE_DENSE = [
    name for name in CONFIG_NAMES if re.match(r'(mask_rcnn|cascade_mask_rcnn|upernet)_convnextv?2?_(l|xl|h)_', name)
]


@pytest.mark.parametrize('name', LARGE_DENSE)
def test_large_detection_and_segmentation_models_train_in_fp32(name: str) -> None:
    """Every official ConvNeXt-L/XL COCO and ADE20K config trains in fp32 (ConvNeXt ``object_detection`` and
    ``semantic_segmentation`` configs: fp16 only up to B); so do ours from L on."""
    assert load(name).optim_wrapper.type == 'OptimWrapper'
