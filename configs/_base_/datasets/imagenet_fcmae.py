"""ImageNet-1K for FCMAE pre-training: mmpretrain's ``imagenet_bs512_mae.py`` (RandomResizedCrop 224, scale
(0.2, 1.0), bicubic, horizontal flip; ConvNeXt-V2 ``main_pretrain.py``), 8 loader workers per GPU. Leaves set the
per-GPU batch.

``collate_fn`` is restated: mmengine's Config marks the base's dict with ``_scope_='mmpretrain'``, and the Runner
passes every key but ``type`` to the function (``default_collate() got an unexpected keyword argument '_scope_'``)."""

_base_ = ['mmpretrain::_base_/datasets/imagenet_bs512_mae.py']

train_dataloader = dict(num_workers=8, collate_fn=dict(_delete_=True, type='default_collate'))
