"""ImageNet classifier, ConvNeXt V2 backbone, fine-tuned on ImageNet-1K from the ImageNet-22K intermediate weights
(ConvNeXt V2 appendix Table 13, the V2 counterpart of ``convnext_ft.py``): a new head with init scale 0.001, label
smoothing 0.1, no Mixup or CutMix. Leaves set the checkpoint."""

_base_ = ['./classifier.py']

model = dict(
    backbone=dict(
        type='convnext.ConvNeXtV2', layer_scale_init_value=0.0, init_cfg=dict(type='Pretrained', checkpoint=None)
    ),
    head=dict(loss=dict(label_smooth_val=0.1), init_cfg=dict(std=0.02 * 0.001)),
    train_cfg=None,
)
