"""Self-supervised pretraining of ConvNeXt V2: FCMAE with dense and MinkowskiEngine encoders."""

from .fcmae import BACKENDS, FCMAE
from .masking import mask_to_map, patchify, random_patch_mask, unpatchify

__all__ = ['BACKENDS', 'FCMAE', 'mask_to_map', 'patchify', 'random_patch_mask', 'unpatchify']
