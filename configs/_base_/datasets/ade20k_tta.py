"""Multi-scale + flip test pipelines for ADE20K (``tools/test.py --tta``, mmseg's ``SegTTAModel``): each image
resized to fit the test scale x r, each scale also flipped, the logits averaged.

ConvNeXt V1 (Table 4): the Swin/BEiT ``--aug-test``, r in [0.5, 0.75, 1.0, 1.25, 1.5, 1.75] (whole-image inference
there: add ``--cfg-options model.test_cfg.mode=whole`` to match it exactly); ConvNeXt V2 (appendix A.4): r in
[0.75, 0.875, 1.0, 1.125, 1.25] (the paper names the scales; the flips follow the V1 protocol it builds on). A dataset
base picks its entry of ``tta_pipelines`` (``v1_512``, ``v2_512``, ``v1_640``, ``v2_640``); a V2 leaf takes the V2 one.
"""

tta_ratios = dict(v1=[0.5, 0.75, 1.0, 1.25, 1.5, 1.75], v2=[0.75, 0.875, 1.0, 1.125, 1.25])
test_scales = {512: (2048, 512), 640: (2560, 640)}


def _tta_pipeline(scale: tuple[int, int], ratios: list[float]) -> list[dict]:
    resizes = [dict(type='Resize', scale=(int(scale[0] * r), int(scale[1] * r)), keep_ratio=True) for r in ratios]
    flips = [dict(type='RandomFlip', prob=prob, direction='horizontal') for prob in (0.0, 1.0)]
    return [
        dict(type='LoadImageFromFile', backend_args=None),
        dict(
            type='TestTimeAug',
            transforms=[resizes, flips, [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]],
        ),
    ]


tta_pipelines = {
    f'{version}_{crop}': _tta_pipeline(scale, ratios)
    for version, ratios in tta_ratios.items()
    for crop, scale in test_scales.items()
}
