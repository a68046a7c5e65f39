"""ImageNet classifier, ConvNeXt V1 backbone, fine-tuned from pre-trained weights (ConvNeXt appendix Table 6): a new
head with head init scale 0.001 (trunc-normal std 0.02 x 0.001), label smoothing 0.1, no Mixup or CutMix. Leaves set
the checkpoint (``model.backbone.init_cfg.checkpoint``); the layer scale is then the checkpoint's."""

_base_ = ['./classifier.py']

model = dict(
    backbone=dict(
        type='convnext.ConvNeXt', layer_scale_init_value=1e-6, init_cfg=dict(type='Pretrained', checkpoint=None)
    ),
    head=dict(loss=dict(label_smooth_val=0.1), init_cfg=dict(std=0.02 * 0.001)),
    train_cfg=None,
)
