"""Mask R-CNN with FPN on a ConvNeXt V2 backbone, as the ConvNeXt V2 paper trains it (appendix A.3): images padded
to 1024 x 1024 for large-scale jitter, soft-NMS single-scale test. Leaves set the size, the drop path and the
checkpoint."""

_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './convnext_backbone.py']

model = dict(
    backbone={{_base_.convnextv2_backbone}},
    data_preprocessor=dict(batch_augments=[dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)]),
    test_cfg=dict(rcnn=dict(score_thr=0.05, nms=dict(type='soft_nms', iou_threshold=0.5), max_per_img=100)),
)
