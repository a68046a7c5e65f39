"""ImageNet classifier, ConvNeXt V1 backbone, fine-tuned from pre-trained weights (ConvNeXt appendix Table 6).

A new head gets head init scale 0.001 (trunc-normal std 0.02 x 0.001); no Mixup or CutMix. Leaves set the size,
the drop path and the checkpoint (``model.backbone.init_cfg.checkpoint``).
"""

_base_ = ['./convnext_cls.py']

model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=None)),
    head=dict(init_cfg=dict(std=0.02 * 0.001)),
    train_cfg=None,
)
