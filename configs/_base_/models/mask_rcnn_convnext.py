"""Mask R-CNN with FPN (mmdet's ``mask-rcnn_r50_fpn.py``) on a ConvNeXt V1 backbone. Leaves set the size
(``backbone.arch``, ``neck.in_channels``), the drop path and the checkpoint."""

_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './convnext_backbone.py']

model = dict(backbone={{_base_.convnext_backbone}})
