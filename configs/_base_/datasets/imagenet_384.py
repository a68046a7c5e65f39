"""ImageNet-1K above 224 for fine-tuning: 384x384 by default, 512x512 on request (ConvNeXt appendix A.2).

Training: RandomResizedCrop to the resolution, flip, RandAugment (9, 0.5), random erasing 0.25, as at 224. Testing
resizes to the square without cropping (crop ratio 1.0). One pipeline per resolution in ``pipelines``; a 512 leaf
takes ``{{_base_.pipelines.train_512}}`` and ``{{_base_.pipelines.test_512}}``. Leaves set the per-GPU batch.
"""

_base_ = ['./imagenet.py']

# ImageNet mean/std in BGR order (the images are loaded as BGR), as in mmpretrain's base.
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
resolutions = (384, 512)


def _train_pipeline(size: int) -> list[dict]:
    augment = dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')
    return [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=size, backend='pillow', interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(
            type='RandAugment',
            policies='timm_increasing',
            num_policies=2,
            total_level=10,
            magnitude_level=9,
            magnitude_std=0.5,
            hparams=augment,
        ),
        dict(
            type='RandomErasing',
            erase_prob=0.25,
            mode='rand',
            min_area_ratio=0.02,
            max_area_ratio=1 / 3,
            fill_color=bgr_mean,
            fill_std=bgr_std,
        ),
        dict(type='PackInputs'),
    ]


def _test_pipeline(size: int) -> list[dict]:
    resize = dict(type='Resize', scale=size, backend='pillow', interpolation='bicubic')
    return [dict(type='LoadImageFromFile'), resize, dict(type='PackInputs')]


pipelines = {
    f'{split}_{size}': build(size)
    for size in resolutions
    for split, build in (('train', _train_pipeline), ('test', _test_pipeline))
}
train_dataloader = dict(dataset=dict(pipeline=pipelines['train_384']))
val_dataloader = dict(dataset=dict(pipeline=pipelines['test_384']))
test_dataloader = dict(dataset=dict(pipeline=pipelines['test_384']))
