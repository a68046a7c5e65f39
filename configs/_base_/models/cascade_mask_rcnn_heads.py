"""Cascade Mask R-CNN with FPN (mmdet's ``cascade-mask-rcnn_r50_fpn.py``) with the box heads of the official ConvNeXt
COCO configs: three 4conv1fc box heads (SyncBN) regressing decoded boxes with GIoU loss x10. The backbone is the
host's until ``cascade_mask_rcnn_convnext.py`` or ``cascade_mask_rcnn_convnextv2.py`` replaces it."""

_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py']

# Box-delta normalisation of the three cascade stages (IoU 0.5, 0.6, 0.7).
cascade_target_stds = [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067]]
box_head = dict(
    type='ConvFCBBoxHead',
    num_shared_convs=4,
    num_shared_fcs=1,
    in_channels=256,
    conv_out_channels=256,
    fc_out_channels=1024,
    roi_feat_size=7,
    num_classes=80,
    reg_class_agnostic=False,
    reg_decoded_bbox=True,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0),
)
coder = dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0])
model = dict(
    roi_head=dict(bbox_head=[dict(box_head, bbox_coder=dict(coder, target_stds=stds)) for stds in cascade_target_stds]),
)
