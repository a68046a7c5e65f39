"""ADE20K, 640x640 crops, with the multi-scale + flip test of the ConvNeXt V2 paper (appendix A.4).

Training and single-scale test pipelines are mmseg's ``ade20k_640x640.py``
(random resize of (2560, 640) by 0.5-2.0, 640x640 crops, flip, photometric
distortion; test at (2560, 640)). ``tools/test.py --tta`` runs the official
multi-scale test: each image resized to fit (2560, 640) x r for r in
[0.75, 0.875, 1.0, 1.125, 1.25], each scale also flipped; the logits are averaged
(mmseg's ``SegTTAModel``, ``tta_model`` of the runtime base). The paper names the scales only;
the flips follow the V1 protocol it builds on.
"""

_base_ = ['mmseg::_base_/datasets/ade20k_640x640.py']

test_scale = (2560, 640)
img_ratios = [0.75, 0.875, 1.0, 1.125, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(int(test_scale[0] * r), int(test_scale[1] * r)), keep_ratio=True)
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ],
    ),
]
