"""ImageNet classifier, ConvNeXt V2 backbone, fine-tuned from FCMAE or ImageNet-22K weights (ConvNeXt V2 appendix
Tables 9-13).

Head init scale 0.001 (facebookresearch/ConvNeXt-V2 ``main_finetune.py``: the head is always new), Mixup 0.8 / CutMix 1.0 as in Tables 10-12
(Table 13 and the small models of Table 9 set their own). Leaves set the size, the drop path and the checkpoint.
"""

_base_ = ['./convnext_ft.py']

model = dict(
    backbone=dict(type='convnext.ConvNeXtV2', layer_scale_init_value=0.0),
    train_cfg=dict(_delete_=True, augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)
