"""Draws FCMAE reconstructions: per image, original | masked input | reconstruction | reconstruction + visible.

Usage:
    python tools/analysis/visualize_fcmae.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out grid.png

CONFIG is an FCMAE pretraining config (``configs/fcmae_*.py``), CHECKPOINT a
checkpoint of it (``tools/train.py`` output). Each image is resized to
``--size`` (a multiple of 32), normalised with the config's data preprocessor
mean/std, masked with a random mask (``--seed``) and reconstructed.

Un-normalising the prediction (``--stats``): with ``norm_pix_loss`` the model
predicts each patch normalised by its own mean and std, which the picture
must put back.

* ``visible`` (default): every patch gets the mean and std of the per-patch
  means and stds of the image's *visible* patches, so the picture uses no
  information from the removed patches at all;
* ``own``: each patch gets its own target mean and (unbiased) std, as MAE's
  visualisation does; this borrows two numbers (brightness and contrast per
  patch) from the hidden patch, the texture remains the model's.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from mmengine.runner.checkpoint import load_state_dict
from PIL import Image

from convnext.exceptions import ConfigError
from convnext.launch import exit_on_config_error, load_config
from convnext.models.checkpoint import unwrap_state_dict
from convnext.models.selfsup import FCMAE, patchify, unpatchify
from convnext.models.selfsup.fcmae import NORM_PIX_EPS
from convnext.registry import MODELS
from convnext.serialization import read_checkpoint

MASKED_GREY = 0.5
"""Grey level (of 1) painted over removed patches in the masked-input column."""
MAX_PIXEL = 255.0
STATS = ('visible', 'own')
"""Choices of ``--stats``: whose patch statistics un-normalise the prediction."""
COLUMNS = ('original', 'masked', 'reconstruction', 'reconstruction + visible')


def load_model(config: str, checkpoint: str) -> FCMAE:
    """Builds the FCMAE of a config and loads a checkpoint into it (eval mode, CPU).

    Raises:
        ConfigError: A missing config or checkpoint, a model that is not FCMAE,
            or a checkpoint that is not a readable PyTorch file.
    """
    cfg = load_config(config)
    model = MODELS.build(cfg.model)
    if not isinstance(model, FCMAE):
        raise ConfigError(f'{config}: model.type {cfg.model.get("type")!r} is not convnext.FCMAE')
    load_state_dict(model, unwrap_state_dict(read_checkpoint(checkpoint)))
    return model.eval()


def normalisation(model: FCMAE) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std ``(1, 3, 1, 1)`` of the model's data preprocessor (in 0..255 units)."""
    preprocessor = model.data_preprocessor
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if mean is None or std is None:
        return torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    return mean.reshape(1, 3, 1, 1).float(), std.reshape(1, 3, 1, 1).float()


def read_image(path: str, size: int) -> torch.Tensor:
    """RGB image ``(1, 3, size, size)`` in 0..255."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'image {path} does not exist')
    image = Image.open(path).convert('RGB').resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


def unnormalise_prediction(
    model: FCMAE, pred: torch.Tensor, imgs: torch.Tensor, mask: torch.Tensor, stats: str = 'visible'
) -> torch.Tensor:
    """Prediction ``(N, L, p * p * 3)`` back to normalised-image units (see the module docstring).

    Args:
        model: The FCMAE (its ``norm_pix_loss`` and ``patch_size``).
        pred: Predictions ``(N, L, p * p * 3)``.
        imgs: Normalised images ``(N, 3, H, W)``.
        mask: ``(N, L)``, 1 = removed.
        stats: 'visible' or 'own'. Defaults to 'visible'.
    """
    if stats not in STATS:
        raise ValueError(f'stats must be one of {STATS}, got {stats!r}')
    if not model.norm_pix_loss:
        return pred
    target = patchify(imgs, model.patch_size)
    mean = target.mean(dim=-1, keepdim=True)  # (N, L, 1)
    std = (target.var(dim=-1, keepdim=True) + NORM_PIX_EPS).sqrt()
    if stats == 'visible':
        visible = (1.0 - mask)[..., None]  # (N, L, 1)
        count = visible.sum(dim=1, keepdim=True).clamp(min=1.0)
        mean = ((mean * visible).sum(dim=1, keepdim=True) / count).expand_as(mean)
        std = ((std * visible).sum(dim=1, keepdim=True) / count).expand_as(std)
    return pred * std + mean


@torch.no_grad()
def reconstruct_row(model: FCMAE, rgb: torch.Tensor, stats: str = 'visible') -> list[torch.Tensor]:
    """The four panels ``(3, H, W)`` in 0..1 of one image ``(1, 3, H, W)`` in 0..255."""
    mean, std = normalisation(model)
    imgs = (rgb - mean) / std
    mask = model.generate_mask(imgs)
    grid = (imgs.shape[-2] // model.patch_size, imgs.shape[-1] // model.patch_size)
    pred = unnormalise_prediction(model, model.reconstruct(imgs, mask), imgs, mask, stats)
    recon = unpatchify(pred, model.patch_size, grid) * std + mean
    removed = unpatchify(mask[..., None].expand_as(pred), model.patch_size, grid)[:, :1]
    masked = rgb * (1 - removed) + MASKED_GREY * MAX_PIXEL * removed
    pasted = rgb * (1 - removed) + recon * removed
    return [(t[0] / MAX_PIXEL).clamp(0, 1) for t in (rgb, masked, recon, pasted)]


def to_grid(rows: list[list[torch.Tensor]]) -> Image.Image:
    """Tiles rows of equal-size ``(3, H, W)`` panels into one image."""
    height, width = rows[0][0].shape[-2:]
    canvas = Image.new('RGB', (width * len(COLUMNS), height * len(rows)))
    for r, panels in enumerate(rows):
        for c, panel in enumerate(panels):
            array = (panel.permute(1, 2, 0).numpy() * MAX_PIXEL).round().astype(np.uint8)
            canvas.paste(Image.fromarray(array), (c * width, r * height))
    return canvas


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='FCMAE reconstruction grid')
    parser.add_argument('config', help='FCMAE config')
    parser.add_argument('checkpoint', help='FCMAE checkpoint')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out', default='fcmae_grid.png', help='output PNG')
    parser.add_argument('--size', type=int, default=224, help='input side, a multiple of the patch size')
    parser.add_argument('--stats', default='visible', choices=STATS, help='patch stats used to un-normalise')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    return parser.parse_args(argv)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Writes the grid; returns the exit code (2 with one ``error:`` line on bad input)."""
    args = parse_args(argv)
    model = load_model(args.config, args.checkpoint)
    if args.size % model.patch_size:
        raise ConfigError(f'--size {args.size} must be a multiple of the patch size {model.patch_size}')
    torch.manual_seed(args.seed)
    rows = [reconstruct_row(model, read_image(path, args.size), args.stats) for path in args.images]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    to_grid(rows).save(args.out)
    print(f'wrote {args.out}: {len(rows)} rows x columns {", ".join(COLUMNS)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
