"""FCMAE: the fully convolutional masked autoencoder of ConvNeXt V2, as an mmpretrain algorithm."""

import copy
import warnings

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from ...registry import MODELS
from ..backbones.convnext import ConvNeXt, ConvNeXtBlock
from .dense_encoder import encode_gathered, encode_plain
from .masking import mask_to_map, patch_grid, patchify, random_patch_mask

BACKENDS = ('dense', 'plain', 'minkowski')
"""Encoder backends: ``dense`` (gathered 1x1 layers, default), ``plain`` (compute everything then mask;
the baseline), ``minkowski`` (MinkowskiEngine sparse tensors). All compute the same function."""

NORM_PIX_EPS = 1e-6
"""Added to the (unbiased) per-patch variance of the norm-pix target (official value)."""

MASK_TOKEN_STD = 0.02
"""Standard deviation of the mask token's normal init (official)."""


def _copy_cfg(cfg: object) -> object:
    """A deep copy of a config dict (modules and None pass through)."""
    return copy.deepcopy(cfg) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class FCMAE(BaseSelfSupervisor):
    """Fully convolutional masked autoencoder (`ConvNeXt V2 <https://arxiv.org/abs/2301.00808>`_).

    A ConvNeXt V2 encoder sees a masked image (``mask_ratio`` of the
    ``patch_size`` patches removed); a light decoder (1x1 projection to
    ``decoder_embed_dim``, mask token at removed patches, ``decoder_depth``
    ConvNeXt V2 blocks, 1x1 prediction to ``patch_size ** 2 * 3``) predicts the
    pixels, and the loss is the MSE to the per-patch normalised pixels on the
    removed patches only.

    The encoder is ``self.backbone``, a :class:`convnext.ConvNeXtV2` whose
    modules a masked forward drives (see :mod:`.dense_encoder`), so its
    parameters are named ``backbone.downsample_layers...`` and
    ``backbone.stages...`` and the state dict is a backbone checkpoint under the
    prefix ``backbone.``. The backbone's output norms ``norm{i}`` are removed
    (the official encoder has none; FCMAE never trains them). Decoder
    parameters keep the official names ``proj``, ``mask_token``, ``decoder.0``
    and ``pred``.

    Initialisation: encoder as the backbone (truncated normal, std .02), the
    decoder likewise, ``mask_token`` normal std .02. The official code
    (ConvNeXt-V2 ``models/fcmae.py`` ``_init_weights``, applied after the
    encoder's own init) calls timm's ``trunc_normal_`` without ``std``, i.e.
    std 1 (cut at +-2), on: the stem conv (``downsample_layers.0.0``), every
    encoder depthwise conv (``stages.i.j.dwconv``, ``MinkowskiDepthwiseConvolution``)
    and every encoder pointwise layer (``stages.i.j.pwconv1`` and ``pwconv2``,
    ``MinkowskiLinear``), ``proj``, ``pred`` and the decoder's depthwise conv
    (``decoder.j.dwconv``). Only the downsampling convs
    (``downsample_layers.1-3``, ``MinkowskiConvolution``) get std .02, and the
    decoder's Linear layers (``decoder.j.pwconv1``/``pwconv2``) keep PyTorch's
    default. We do not copy that accident.

    Args:
        backbone: Config (or module) of the encoder, normally
            ``dict(type='convnext.ConvNeXtV2', arch=...)``.
        decoder_embed_dim: Decoder width. Defaults to 512.
        decoder_depth: Decoder ConvNeXt V2 blocks. Defaults to 1.
        patch_size: Mask and target patch size; must equal the encoder's total
            stride. Defaults to 32.
        mask_ratio: Fraction of removed patches; ``int(L * (1 - mask_ratio))``
            stay visible. Defaults to 0.6.
        norm_pix_loss: Normalise each target patch by its mean and unbiased
            std (``+ 1e-6``). Defaults to True (the official training default).
        backend: 'dense' (default), 'plain' or 'minkowski'; see :data:`BACKENDS`.
            All compute the same function with GRN statistics per sample over
            the visible positions; the official sparse encoder's
            ``MinkowskiGRN`` pools them over the whole batch instead, so
            official sparse pretraining differs slightly from all three.
        data_preprocessor: mmpretrain data preprocessor config. Defaults to
            ``SelfSupDataPreprocessor`` without normalisation (give ImageNet
            mean/std in configs).
        init_cfg: mmengine init config. Defaults to None.
    """

    def __init__(
        self,
        backbone: dict | ConvNeXt,
        decoder_embed_dim: int = 512,
        decoder_depth: int = 1,
        patch_size: int = 32,
        mask_ratio: float = 0.6,
        norm_pix_loss: bool = True,
        backend: str = 'dense',
        data_preprocessor: dict | nn.Module | None = None,
        init_cfg: dict | list[dict] | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'FCMAE backend must be one of {BACKENDS}, got {backend!r}')
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'FCMAE mask_ratio must be in [0, 1), got {mask_ratio}')
        # Copies: BaseSelfSupervisor writes a default type into the preprocessor dict.
        super().__init__(
            backbone=_copy_cfg(backbone), data_preprocessor=_copy_cfg(data_preprocessor), init_cfg=init_cfg
        )
        if not isinstance(self.backbone, ConvNeXt):
            raise TypeError(f'FCMAE needs a convnext.ConvNeXtV2 backbone, got {type(self.backbone).__name__}')
        stride = self.backbone.stem_patch_size * 2 ** (self.backbone.num_stages - 1)
        if patch_size != stride:
            raise ValueError(f'FCMAE patch_size must equal the encoder total stride {stride}, got {patch_size}')
        for i in self.backbone.out_indices:
            delattr(self.backbone, f'norm{i}')
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.backend = backend
        self._minkowski = None
        if backend == 'minkowski':
            self._minkowski = self._build_minkowski()
        self.proj = nn.Conv2d(self.backbone.channels[-1], decoder_embed_dim, kernel_size=1)
        self.mask_token = nn.Parameter(torch.zeros(1, decoder_embed_dim, 1, 1))
        self.decoder = nn.Sequential(
            *[ConvNeXtBlock(decoder_embed_dim, use_grn=True, layer_scale_init_value=0) for _ in range(decoder_depth)]
        )
        self.pred = nn.Conv2d(decoder_embed_dim, patch_size * patch_size * 3, kernel_size=1)

    def _build_minkowski(self) -> object:
        from .minkowski_encoder import MinkowskiEncoder

        return MinkowskiEncoder(self.backbone)

    def init_weights(self) -> None:
        """Initialises the encoder (backbone rules), the decoder and the mask token."""
        super().init_weights()
        for module in (self.proj, self.decoder, self.pred):
            module.apply(ConvNeXt._init_module)
        nn.init.normal_(self.mask_token, std=MASK_TOKEN_STD)

    def generate_mask(self, imgs: torch.Tensor) -> torch.Tensor:
        """Random mask for images ``(N, 3, H, W)``: ``(N, L)`` with 1 = removed, ``L = (H / p) * (W / p)``."""
        h, w = patch_grid(imgs, self.patch_size)
        return random_patch_mask(imgs.shape[0], h * w, self.mask_ratio, device=imgs.device)

    def encode(self, imgs: torch.Tensor, mask: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        """Masked encoder: images ``(N, 3, H, W)`` and mask ``(N, L)`` to features ``(N, C, H / p, W / p)``.

        Args:
            imgs: Images ``(N, 3, H, W)``.
            mask: ``(N, L)``, 1 = removed.
            backend: Overrides ``self.backend`` for this call. Defaults to None.
        """
        backend = backend or self.backend
        if backend not in BACKENDS:
            raise ValueError(f'FCMAE backend must be one of {BACKENDS}, got {backend!r}')
        grid = patch_grid(imgs, self.patch_size)
        stem_stride = self.backbone.stem_patch_size
        removed = mask_to_map(mask, grid, self.patch_size // stem_stride)  # (N, 1, H / stem_stride, W / stem_stride)
        if backend == 'dense':
            return encode_gathered(self.backbone, imgs, removed)
        if backend == 'plain':
            return encode_plain(self.backbone, imgs, removed)
        if self._minkowski is None:
            self._minkowski = self._build_minkowski()
        bypassed = self._minkowski.unsupported_modules()
        if bypassed:
            warnings.warn(
                f"FCMAE backend='minkowski' would bypass the replaced or hooked convolutions {bypassed} "
                "(it runs sparse convolutions built from their weights); using backend='dense', "
                'which computes the same function through the modules',
                stacklevel=2,
            )
            return encode_gathered(self.backbone, imgs, removed)
        return self._minkowski(imgs, removed)

    def decode(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decoder: features ``(N, C, h, w)`` and mask ``(N, h * w)`` to predictions ``(N, L, p * p * 3)``."""
        n, _, h, w = feats.shape
        removed = mask.reshape(n, 1, h, w).to(feats.dtype)
        x = self.proj(feats)
        x = x * (1.0 - removed) + self.mask_token * removed
        x = self.pred(self.decoder(x))  # (N, p * p * 3, h, w)
        return x.flatten(2).transpose(1, 2)

    def reconstruct(self, imgs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted (normalised if ``norm_pix_loss``) pixels ``(N, L, p * p * 3)`` of images ``(N, 3, H, W)``.

        Depends only on the patches where ``mask`` (``(N, L)``, 1 = removed) is 0.
        """
        return self.decode(self.encode(imgs, mask), mask)

    def target(self, imgs: torch.Tensor) -> torch.Tensor:
        """Regression target ``(N, L, p * p * 3)``: patches, normalised per patch if ``norm_pix_loss``."""
        target = patchify(imgs, self.patch_size)
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)  # unbiased, as the official code
            target = (target - mean) / (var + NORM_PIX_EPS).sqrt()
        return target

    def reconstruction_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-patch MSE averaged over removed patches only (a scalar)."""
        per_patch = (pred - self.target(imgs)).pow(2).mean(dim=-1)  # (N, L)
        return (per_patch * mask).sum() / mask.sum().clamp(min=1.0)

    def extract_feat(self, inputs: torch.Tensor | list[torch.Tensor]) -> tuple[torch.Tensor]:
        """Unmasked encoder features ``((N, C, H / p, W / p),)`` (``mode='tensor'``)."""
        imgs = inputs[0] if isinstance(inputs, list) else inputs
        h, w = patch_grid(imgs, self.patch_size)
        return (self.encode(imgs, imgs.new_zeros(imgs.shape[0], h * w)),)

    def loss(
        self, inputs: torch.Tensor | list[torch.Tensor], data_samples: list[DataSample] | None = None, **kwargs
    ) -> dict[str, torch.Tensor]:
        """FCMAE loss of a batch of images ``(N, 3, H, W)`` (or a one-view list of them)."""
        imgs = inputs[0] if isinstance(inputs, list) else inputs
        mask = self.generate_mask(imgs)
        pred = self.reconstruct(imgs, mask)
        return dict(loss=self.reconstruction_loss(imgs, pred, mask))
