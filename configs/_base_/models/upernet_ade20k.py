"""UperNet (mmseg's ``upernet_r50.py``: pool scales 1, 2, 3, 6, 512 channels, SyncBN, auxiliary FCN head on stage 3
with loss weight 0.4) for the 150 ADE20K classes, as the official ConvNeXt segmentation configs. The backbone is the
host's until ``upernet_convnext.py`` or ``upernet_convnextv2.py`` replaces it."""

_base_ = ['mmseg::_base_/models/upernet_r50.py']

model = dict(pretrained=None, decode_head=dict(num_classes=150), auxiliary_head=dict(num_classes=150))
