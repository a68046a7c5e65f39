"""Cascade Mask R-CNN of ``cascade_mask_rcnn_convnext.py`` on a ConvNeXt V2 backbone. Leaves set the size, the
drop path and the checkpoint."""

_base_ = ['./cascade_mask_rcnn_convnext.py']

model = dict(backbone={{_base_.convnextv2_backbone}})
