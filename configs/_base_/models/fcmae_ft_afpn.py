"""ImageNet classifier, ConvNeXt V2-A/F/P/N, fine-tuned from FCMAE weights (ConvNeXt V2 appendix Table 9): a new head
with init scale 0.001 and label smoothing 0.2. Mixup / CutMix differ by size (A none, F and P 0.3, N 0.5): each leaf
sets its own ``model.train_cfg``, as it sets the checkpoint."""

_base_ = ['./classifier.py']

model = dict(
    backbone=dict(
        type='convnext.ConvNeXtV2', layer_scale_init_value=0.0, init_cfg=dict(type='Pretrained', checkpoint=None)
    ),
    head=dict(loss=dict(label_smooth_val=0.2), init_cfg=dict(std=0.02 * 0.001)),
)
