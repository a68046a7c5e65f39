"""Key names and shapes of the detection and segmentation checkpoints released with ConvNeXt; mmcv 1.x files.

facebookresearch/ConvNeXt released 7 COCO checkpoints trained with mmdet 2.x
(``object_detection/README.md``) and 6 ADE20K UperNet checkpoints trained
with mmseg 0.x (``semantic_segmentation/README.md``), saved by mmcv 1.x's
``save_checkpoint``. They cannot be downloaded here, so the tests write files
of the released structure. Everything below is derived from the official
configs, never from our model:

- backbone: ``object_detection/mmdet/models/backbones/convnext.py`` (and the
  identical ``semantic_segmentation/backbone/convnext.py``):
  ``downsample_layers.i.{0,1}``, ``stages.i.j.{dwconv,norm,pwconv1,pwconv2,gamma}``,
  ``norm0..3``; depths and dims from the configs ``configs/convnext/*.py``;
- detection: ``object_detection/configs/_base_/models/{mask,cascade_mask}_rcnn_convnext_fpn.py``
  (FPN 256, RPN 3 anchors, ``Shared2FCBBoxHead``, ``FCNMaskHead`` 4 convs) and
  the leaves' Cascade heads (``ConvFCBBoxHead``, 4 shared convs with SyncBN,
  1 shared fc, class-specific regression), with mmdet 2.x names: ``ConvModule``
  children ``conv`` / ``bn`` (no conv bias under a norm), ``rpn_conv``,
  ``shared_convs``, ``shared_fcs``, ``fc_cls`` (classes + 1), ``fc_reg``,
  ``convs``, ``upsample`` (deconv), ``conv_logits``, Cascade stages
  ``roi_head.{bbox,mask}_head.i``;
- segmentation: ``semantic_segmentation/configs/_base_/models/upernet_convnext.py``
  with mmseg 0.x names: UPerHead ``psp_modules.i.1``, ``bottleneck``,
  ``lateral_convs``, ``fpn_convs``, ``fpn_bottleneck``, ``conv_seg``; FCNHead
  auxiliary ``convs.0``, ``conv_seg`` (on stage 3, 256 channels).

Tensors are zero-stride views of one element, so a file of 400M parameters
stays a few bytes per key.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

Shape = tuple[int, ...]
Layout = dict[str, Shape]

OFFICIAL_ARCHS = {
    'tiny': ((3, 3, 9, 3), (96, 192, 384, 768)),
    'small': ((3, 3, 27, 3), (96, 192, 384, 768)),
    'base': ((3, 3, 27, 3), (128, 256, 512, 1024)),
    'large': ((3, 3, 27, 3), (192, 384, 768, 1536)),
    'xlarge': ((3, 3, 27, 3), (256, 512, 1024, 2048)),
}
"""``depths`` and ``dims`` of the official det/seg configs, by size."""

STEM_PATCH = 4
DOWNSAMPLE_KERNEL = 2
DW_KERNEL = 7
MLP_RATIO = 4
IN_CHANNELS = 3

FPN_CHANNELS = 256
NUM_ANCHORS = 3
BOX_DIM = 4
ROI_SIZE = 7
FC_CHANNELS = 1024
SHARED_CONVS = 4
MASK_CONVS = 4
CASCADE_STAGES = 3
COCO_CLASSES = 80

UPER_CHANNELS = 512
POOL_SCALES = (1, 2, 3, 6)
AUX_CHANNELS = 256
AUX_STAGE = 2
ADE_CLASSES = 150
CONV3 = 3


@dataclass(frozen=True)
class Released:
    """One released checkpoint: its file, our config, the model kind and the official size."""

    file: str
    config: str
    kind: str
    arch: str


RELEASED = [
    Released('mask_rcnn_convnext_tiny_1k_3x.pth', 'mask_rcnn_convnext_t_3x.py', 'mask_rcnn', 'tiny'),
    Released('cascade_mask_rcnn_convnext_tiny_1k_3x.pth', 'cascade_mask_rcnn_convnext_t_3x.py', 'cascade', 'tiny'),
    Released('cascade_mask_rcnn_convnext_small_1k_3x.pth', 'cascade_mask_rcnn_convnext_s_3x.py', 'cascade', 'small'),
    Released('cascade_mask_rcnn_convnext_base_1k_3x.pth', 'cascade_mask_rcnn_convnext_b_3x.py', 'cascade', 'base'),
    Released(
        'cascade_mask_rcnn_convnext_base_22k_3x.pth', 'cascade_mask_rcnn_convnext_b_in22k_3x.py', 'cascade', 'base'
    ),
    Released(
        'cascade_mask_rcnn_convnext_large_22k_3x.pth', 'cascade_mask_rcnn_convnext_l_in22k_3x.py', 'cascade', 'large'
    ),
    Released(
        'cascade_mask_rcnn_convnext_xlarge_22k_3x.pth', 'cascade_mask_rcnn_convnext_xl_in22k_3x.py', 'cascade', 'xlarge'
    ),
    Released('upernet_convnext_tiny_1k_512x512.pth', 'upernet_convnext_t_160k_ade20k_512.py', 'upernet', 'tiny'),
    Released('upernet_convnext_small_1k_512x512.pth', 'upernet_convnext_s_160k_ade20k_512.py', 'upernet', 'small'),
    Released('upernet_convnext_base_1k_512x512.pth', 'upernet_convnext_b_160k_ade20k_512.py', 'upernet', 'base'),
    Released('upernet_convnext_base_22k_640x640.pth', 'upernet_convnext_b_in22k_160k_ade20k_640.py', 'upernet', 'base'),
    Released(
        'upernet_convnext_large_22k_640x640.pth', 'upernet_convnext_l_in22k_160k_ade20k_640.py', 'upernet', 'large'
    ),
    Released(
        'upernet_convnext_xlarge_22k_640x640.pth', 'upernet_convnext_xl_in22k_160k_ade20k_640.py', 'upernet', 'xlarge'
    ),
]
"""Every file of the two READMEs' "Fine-tuned Model" columns and the config of ours that evaluates it."""


# --------------------------------------------------------------------------- building blocks


def prefixed(prefix: str, layout: Layout) -> Layout:
    return {f'{prefix}.{key}': shape for key, shape in layout.items()}


def conv(out_channels: int, in_channels: int, kernel: int, bias: bool = True) -> Layout:
    layout = {'weight': (out_channels, in_channels, kernel, kernel)}
    return {**layout, 'bias': (out_channels,)} if bias else layout


def linear(out_features: int, in_features: int) -> Layout:
    return {'weight': (out_features, in_features), 'bias': (out_features,)}


def affine(channels: int) -> Layout:
    return {'weight': (channels,), 'bias': (channels,)}


def batch_norm(channels: int) -> Layout:
    """``nn.SyncBatchNorm`` / ``BatchNorm2d`` state (mmcv's norm abbreviation ``bn``)."""
    stats = {'running_mean': (channels,), 'running_var': (channels,), 'num_batches_tracked': ()}
    return {**affine(channels), **stats}


def conv_module(out_channels: int, in_channels: int, kernel: int, norm: bool) -> Layout:
    """mmcv's ``ConvModule``: ``conv`` (bias only without a norm, ``bias='auto'``) and ``bn``."""
    layout = prefixed('conv', conv(out_channels, in_channels, kernel, bias=not norm))
    return {**layout, **prefixed('bn', batch_norm(out_channels))} if norm else layout


def merge(*parts: tuple[str, Layout]) -> Layout:
    layout: Layout = {}
    for prefix, part in parts:
        layout.update(prefixed(prefix, part))
    return layout


# --------------------------------------------------------------------------- models


def convnext_backbone(arch: str) -> Layout:
    """The official det/seg ``ConvNeXt`` (layer scale on, four output norms)."""
    depths, dims = OFFICIAL_ARCHS[arch]
    parts = [
        ('downsample_layers.0.0', conv(dims[0], IN_CHANNELS, STEM_PATCH)),
        ('downsample_layers.0.1', affine(dims[0])),
    ]
    for i in range(1, len(dims)):
        parts += [
            (f'downsample_layers.{i}.0', affine(dims[i - 1])),
            (f'downsample_layers.{i}.1', conv(dims[i], dims[i - 1], DOWNSAMPLE_KERNEL)),
        ]
    for i, (depth, dim) in enumerate(zip(depths, dims, strict=True)):
        for j in range(depth):
            block = merge(
                ('dwconv', {'weight': (dim, 1, DW_KERNEL, DW_KERNEL), 'bias': (dim,)}),
                ('norm', affine(dim)),
                ('pwconv1', linear(MLP_RATIO * dim, dim)),
                ('pwconv2', linear(dim, MLP_RATIO * dim)),
            )
            parts.append((f'stages.{i}.{j}', {**block, 'gamma': (dim,)}))
    parts += [(f'norm{i}', affine(dim)) for i, dim in enumerate(dims)]
    return merge(*parts)


def fpn(in_channels: tuple[int, ...]) -> Layout:
    lateral = [(f'lateral_convs.{i}', conv_module(FPN_CHANNELS, c, 1, norm=False)) for i, c in enumerate(in_channels)]
    output = [
        (f'fpn_convs.{i}', conv_module(FPN_CHANNELS, FPN_CHANNELS, CONV3, norm=False)) for i in range(len(in_channels))
    ]
    return merge(*lateral, *output)


def rpn_head() -> Layout:
    return merge(
        ('rpn_conv', conv(FPN_CHANNELS, FPN_CHANNELS, CONV3)),
        ('rpn_cls', conv(NUM_ANCHORS, FPN_CHANNELS, 1)),  # sigmoid: one score per anchor
        ('rpn_reg', conv(NUM_ANCHORS * BOX_DIM, FPN_CHANNELS, 1)),
    )


def box_predictors() -> list[tuple[str, Layout]]:
    """Softmax classes + background, class-specific box deltas."""
    return [('fc_cls', linear(COCO_CLASSES + 1, FC_CHANNELS)), ('fc_reg', linear(COCO_CLASSES * BOX_DIM, FC_CHANNELS))]


def shared_2fc_head() -> Layout:
    flat = FPN_CHANNELS * ROI_SIZE * ROI_SIZE
    return merge(
        ('shared_fcs.0', linear(FC_CHANNELS, flat)),
        ('shared_fcs.1', linear(FC_CHANNELS, FC_CHANNELS)),
        *box_predictors(),
    )


def conv4_fc1_head() -> Layout:
    """The Cascade stages' ``ConvFCBBoxHead(num_shared_convs=4, num_shared_fcs=1, norm_cfg=SyncBN)``."""
    convs = [
        (f'shared_convs.{i}', conv_module(FPN_CHANNELS, FPN_CHANNELS, CONV3, norm=True)) for i in range(SHARED_CONVS)
    ]
    flat = FPN_CHANNELS * ROI_SIZE * ROI_SIZE
    return merge(*convs, ('shared_fcs.0', linear(FC_CHANNELS, flat)), *box_predictors())


def fcn_mask_head() -> Layout:
    convs = [(f'convs.{i}', conv_module(FPN_CHANNELS, FPN_CHANNELS, CONV3, norm=False)) for i in range(MASK_CONVS)]
    deconv = {'weight': (FPN_CHANNELS, FPN_CHANNELS, 2, 2), 'bias': (FPN_CHANNELS,)}  # ConvTranspose2d: (in, out, k, k)
    return merge(*convs, ('upsample', deconv), ('conv_logits', conv(COCO_CLASSES, FPN_CHANNELS, 1)))


def mask_rcnn(arch: str) -> Layout:
    dims = OFFICIAL_ARCHS[arch][1]
    return merge(
        ('backbone', convnext_backbone(arch)),
        ('neck', fpn(dims)),
        ('rpn_head', rpn_head()),
        ('roi_head.bbox_head', shared_2fc_head()),
        ('roi_head.mask_head', fcn_mask_head()),
    )


def cascade_mask_rcnn(arch: str) -> Layout:
    dims = OFFICIAL_ARCHS[arch][1]
    stages = []
    for i in range(CASCADE_STAGES):
        stages += [(f'roi_head.bbox_head.{i}', conv4_fc1_head()), (f'roi_head.mask_head.{i}', fcn_mask_head())]
    return merge(('backbone', convnext_backbone(arch)), ('neck', fpn(dims)), ('rpn_head', rpn_head()), *stages)


def upernet(arch: str) -> Layout:
    dims = OFFICIAL_ARCHS[arch][1]
    psp = [(f'psp_modules.{i}.1', conv_module(UPER_CHANNELS, dims[-1], 1, norm=True)) for i in range(len(POOL_SCALES))]
    lateral = [(f'lateral_convs.{i}', conv_module(UPER_CHANNELS, c, 1, norm=True)) for i, c in enumerate(dims[:-1])]
    output = [
        (f'fpn_convs.{i}', conv_module(UPER_CHANNELS, UPER_CHANNELS, CONV3, norm=True)) for i in range(len(dims) - 1)
    ]
    decode = merge(
        *psp,
        ('bottleneck', conv_module(UPER_CHANNELS, dims[-1] + len(POOL_SCALES) * UPER_CHANNELS, CONV3, norm=True)),
        *lateral,
        *output,
        ('fpn_bottleneck', conv_module(UPER_CHANNELS, len(dims) * UPER_CHANNELS, CONV3, norm=True)),
        ('conv_seg', conv(ADE_CLASSES, UPER_CHANNELS, 1)),
    )
    auxiliary = merge(
        ('convs.0', conv_module(AUX_CHANNELS, dims[AUX_STAGE], CONV3, norm=True)),
        ('conv_seg', conv(ADE_CLASSES, AUX_CHANNELS, 1)),
    )
    return merge(('backbone', convnext_backbone(arch)), ('decode_head', decode), ('auxiliary_head', auxiliary))


LAYOUTS = {'mask_rcnn': mask_rcnn, 'cascade': cascade_mask_rcnn, 'upernet': upernet}
"""Model kind -> the released checkpoint's layout for a size."""


# --------------------------------------------------------------------------- mmcv 1.x files


def zero_stride(shape: Shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A tensor of ``shape`` whose storage is one element (what ``torch.save`` writes)."""
    return torch.zeros((), dtype=dtype).expand(shape)


def state_dict_of(layout: Layout) -> OrderedDict:
    """An mmcv 1.x ``get_state_dict``: an ``OrderedDict`` with torch's ``_metadata`` (module versions)."""
    state = OrderedDict(
        (key, zero_stride(shape, torch.int64 if key.endswith('num_batches_tracked') else torch.float32))
        for key, shape in layout.items()
    )
    modules = sorted({key.rsplit('.', 1)[0] for key in layout} | {''})
    state._metadata = OrderedDict((module, {'version': 1}) for module in modules)
    return state


def mmcv1_meta(released: Released, classes: tuple[str, ...], palette: list[list[int]] | None) -> dict:
    """``meta`` as mmdet 2.x / mmseg 0.x ``train.py`` and mmcv 1.x ``save_checkpoint`` write it (plain Python only)."""
    meta = {
        'env_info': 'sys.platform: linux\nPython: 3.8.12\nCUDA available: True\nPyTorch: 1.10.0\nMMCV: 1.4.2',
        'config': f"model = dict(backbone=dict(type='ConvNeXt', depths={list(OFFICIAL_ARCHS[released.arch][0])}))",
        'seed': 0,
        'exp_name': released.config,
        'CLASSES': classes,
        'epoch': 36,
        'iter': 263844,
        'mmcv_version': '1.4.2',
        'time': time.asctime(time.gmtime(0)),
        'hook_msgs': {'last_ckpt': f'work_dirs/{released.file}'},
    }
    if palette is None:
        meta['mmdet_version'] = '2.11.0+6a979e2'
    else:
        meta.update(mmseg_version='0.11.0+8b57ed1', PALETTE=palette)
    return meta


def adamw_state(layout: Layout, states: int) -> dict:
    """``AdamW.state_dict()`` after training (torch 1.x: integer ``step``), with the official layer-decay
    constructor's extra group entries; moments for the first ``states`` parameters only (the types are what
    matters for ``weights_only``, not the volume)."""
    names = list(layout)
    group = {
        'weight_decay': 0.05,
        'params': list(range(len(names))),
        'param_names': names,
        'lr_scale': 1.0,
        'group_name': 'layer_13_decay',
        'lr': 0.0,
        'betas': (0.9, 0.999),
        'eps': 1e-08,
        'amsgrad': False,
        'initial_lr': 0.0002,
    }
    moments = {
        i: {'step': 263844, 'exp_avg': zero_stride(layout[name]), 'exp_avg_sq': zero_stride(layout[name])}
        for i, name in enumerate(names[:states])
    }
    return {'state': moments, 'param_groups': [group]}


def write_released(path: Path, released: Released, classes: tuple[str, ...], palette: list[list[int]] | None) -> Layout:
    """Writes an mmcv 1.x checkpoint of ``released``'s structure to ``path``; returns its layout.

    Detection runs of the official code used apex mixed precision, whose loss-scaler state may sit under ``amp``.
    """
    layout = LAYOUTS[released.kind](released.arch)
    checkpoint = {
        'meta': mmcv1_meta(released, classes, palette),
        'state_dict': state_dict_of(layout),
        'optimizer': adamw_state(layout, states=4),
    }
    if palette is None:
        checkpoint['amp'] = OrderedDict(loss_scaler0={'loss_scale': 512.0, 'unskipped': 1000})
    torch.save(checkpoint, path)
    return layout
