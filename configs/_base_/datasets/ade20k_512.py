"""ADE20K with 512x512 crops: mmseg's ``ade20k.py`` (random resize of (2048, 512) by 0.5-2.0, 512x512 crops, flip,
photometric distortion; test at (2048, 512)), 2 images per GPU (the recipes' batch 16 on 8 GPUs), and the V1
multi-scale + flip test (``ade20k_tta.py``). ``preprocessor`` (crop 512) and ``slide_test_cfg`` (stride 341) are for the
leaves' ``model``."""

_base_ = ['mmseg::_base_/datasets/ade20k.py', './ade20k_tta.py']

preprocessor = dict(size={{_base_.crop_size}})
slide_test_cfg = dict(mode='slide', crop_size={{_base_.crop_size}}, stride=(341, 341))
train_dataloader = dict(batch_size=2)
tta_pipeline = {{_base_.tta_pipelines.v1_512}}
