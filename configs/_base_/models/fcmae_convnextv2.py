"""FCMAE, the masked autoencoder of ConvNeXt V2 (ConvNeXt V2 section 3; ConvNeXt-V2 ``models/fcmae.py``).

A ConvNeXt V2 encoder (leaves set ``arch``) sees images with 60% of the 32x32 patches removed; a 512-wide decoder
with one ConvNeXt V2 block predicts their pixels, normalised per patch (``norm_pix_loss``, on in the official
``main_pretrain.py``); dense masked convolutions (``backend='dense'``) compute the sparse encoder's function.
"""

model = dict(
    type='convnext.FCMAE',
    # FCMAE runs the stages itself and removes the output norms: the output type is stated, never used.
    backbone=dict(type='convnext.ConvNeXtV2', arch='tiny', out_indices=-1, out_type='featmap'),
    decoder_embed_dim=512,
    decoder_depth=1,
    patch_size=32,
    mask_ratio=0.6,
    norm_pix_loss=True,
    backend='dense',
    data_preprocessor=dict(
        type='mmpretrain.SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
    ),
)
