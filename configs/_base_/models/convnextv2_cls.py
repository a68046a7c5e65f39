"""ImageNet classifier, ConvNeXt V2 backbone (GRN, no layer scale), trained from random initialisation.

The V1 classifier of ``convnext_cls.py`` with the V2 backbone: the ConvNeXt V2 paper trains its supervised
baselines (Table 14) with ConvNeXt's Table 5 recipe.
"""

_base_ = ['./convnext_cls.py']

model = dict(backbone=dict(type='convnext.ConvNeXtV2', layer_scale_init_value=0.0))
