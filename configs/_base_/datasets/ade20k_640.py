"""ADE20K with 640x640 crops: mmseg's ``ade20k_640x640.py`` (random resize of (2560, 640) by 0.5-2.0, 640x640
crops; test at (2560, 640)), 2 images per GPU, the V1 multi-scale + flip test (``ade20k_tta.py``); ``preprocessor``
and ``slide_test_cfg`` (crop 640, stride 426) for the leaves' ``model``."""

_base_ = ['mmseg::_base_/datasets/ade20k_640x640.py', './ade20k_tta.py']

preprocessor = dict(size={{_base_.crop_size}})
slide_test_cfg = dict(mode='slide', crop_size={{_base_.crop_size}}, stride=(426, 426))
train_dataloader = dict(batch_size=2)
tta_pipeline = {{_base_.tta_pipelines.v1_640}}
