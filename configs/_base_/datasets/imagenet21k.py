"""ImageNet-22K (21841 classes) at 224x224 for pre-training and intermediate fine-tuning, with the ImageNet-1K
training pipeline (RandAugment (9, 0.5), random erasing 0.25).

No validation set: the official runs train with evaluation disabled (``--disable_eval true``). Layout:
``data/imagenet21k/train/<wnid>/*.JPEG`` with ``meta/train.txt`` ('<wnid>/<file> <label>' lines; an empty
``ann_file`` scans the folder). Leaves set the per-GPU batch and ``model.head.num_classes``.
"""

_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

data_preprocessor = dict(num_classes=21841)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ImageNet21k',
        data_root='data/imagenet21k',
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline={{_base_.train_pipeline}},
    )
)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
