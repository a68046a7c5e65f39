"""ImageNet classifier, ConvNeXt V2-T/B/L/H backbone, fine-tuned from FCMAE weights on ImageNet-1K (ConvNeXt V2
appendix Tables 10 and 11) or ImageNet-22K (Table 12): a new head with init scale 0.001 (facebookresearch/ConvNeXt-V2
``main_finetune.py``: the head is always new), label smoothing 0.1, Mixup 0.8 / CutMix 1.0. Leaves set the
checkpoint."""

_base_ = ['./classifier.py']

model = dict(
    backbone=dict(
        type='convnext.ConvNeXtV2', layer_scale_init_value=0.0, init_cfg=dict(type='Pretrained', checkpoint=None)
    ),
    head=dict(loss=dict(label_smooth_val=0.1), init_cfg=dict(std=0.02 * 0.001)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
