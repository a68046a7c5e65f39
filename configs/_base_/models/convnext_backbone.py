"""The ConvNeXt backbones of the detection and segmentation models, as the official ConvNeXt COCO and ADE20K configs
build them: the four stage outputs (strides 4-32), V1 with layer scale 1.0 (not the 1e-6 of classification), V2
with GRN and no layer scale. A model base uses one as ``backbone={{_base_.convnext_backbone}}``; leaves set the size
(``arch``), the drop path and the checkpoint (``init_cfg.checkpoint``)."""

_base_ = ['./weights.py']

convnext_backbone = dict(
    _delete_=True,
    type='convnext.ConvNeXt',
    arch='tiny',
    out_indices=[0, 1, 2, 3],
    out_type='featmap',
    layer_scale_init_value=1.0,
    init_cfg=dict(type='Pretrained', checkpoint=None),
)
convnextv2_backbone = dict(
    _delete_=True,
    type='convnext.ConvNeXtV2',
    arch='tiny',
    out_indices=[0, 1, 2, 3],
    out_type='featmap',
    init_cfg=convnext_backbone['init_cfg'],
)
