"""Cascade Mask R-CNN with the 4conv1fc GIoU heads of ``cascade_mask_rcnn_heads.py`` on a ConvNeXt V1 backbone. Leaves
set the size, the drop path and the checkpoint."""

_base_ = ['./cascade_mask_rcnn_heads.py', './convnext_backbone.py']

model = dict(backbone={{_base_.convnext_backbone}})
