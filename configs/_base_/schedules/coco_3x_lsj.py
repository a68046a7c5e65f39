"""The 3x COCO schedule of ``coco_3x.py`` for the large-scale-jitter recipe of the ConvNeXt V2 paper (appendix A.3):
batch 32 = 8 GPUs x 4 images; only the last checkpoint is kept (they are large)."""

_base_ = ['./coco_3x.py']

auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
