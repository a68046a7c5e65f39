"""Patch masks, patchify and per-sample statistics shared by the FCMAE encoders.

Mask convention (official FCMAE): a mask is ``(N, L)`` over the ``h x w``
patches of an image, ``L = h * w``, with 1 = removed and 0 = visible.
"""

import torch


def random_patch_mask(
    num_samples: int, num_patches: int, mask_ratio: float, device: torch.device | None = None
) -> torch.Tensor:
    """Random FCMAE mask: ``int(L * (1 - mask_ratio))`` visible patches per sample.

    Gaussian noise is argsorted per sample; the patches of the first
    ``len_keep`` sorted positions stay visible (official ``gen_random_mask``).

    Args:
        num_samples: Batch size ``N``.
        num_patches: Patches per image ``L``.
        mask_ratio: Fraction of removed patches, in [0, 1).
        device: Device of the mask. Defaults to None (CPU).

    Returns:
        Float mask ``(N, L)``, 1 = removed.
    """
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
    len_keep = int(num_patches * (1 - mask_ratio))
    noise = torch.randn(num_samples, num_patches, device=device)
    ids_restore = noise.argsort(dim=1).argsort(dim=1)
    return (ids_restore >= len_keep).float()


def mask_to_map(mask: torch.Tensor, grid: tuple[int, int], scale: int) -> torch.Tensor:
    """Upsamples a patch mask to a feature-map resolution (``repeat_interleave``).

    Args:
        mask: ``(N, L)`` patch mask, 1 = removed, ``L = grid[0] * grid[1]``.
        grid: Patch grid ``(h, w)``.
        scale: Integer upsampling factor.

    Returns:
        Float map ``(N, 1, h * scale, w * scale)``, 1 = removed.
    """
    h, w = grid
    if mask.dim() != 2 or mask.shape[1] != h * w:
        raise ValueError(f'mask must have shape (N, {h * w}) for a {h}x{w} patch grid, got {tuple(mask.shape)}')
    grid_mask = mask.reshape(-1, 1, h, w).float()
    return grid_mask.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)


def patch_grid(imgs: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """Patch grid ``(h, w)`` of images ``(N, C, H, W)``; H and W must be multiples of the patch size."""
    height, width = imgs.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f'image size {height}x{width} must be a multiple of the patch size {patch_size}')
    return height // patch_size, width // patch_size


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cuts images ``(N, 3, H, W)`` into patches ``(N, L, p * p * 3)`` (official 'nchpwq->nhwpqc' order)."""
    h, w = patch_grid(imgs, patch_size)
    n, c = imgs.shape[:2]
    x = imgs.reshape(n, c, h, patch_size, w, patch_size)
    return torch.einsum('nchpwq->nhwpqc', x).reshape(n, h * w, patch_size * patch_size * c)


def unpatchify(patches: torch.Tensor, patch_size: int, grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(N, L, p * p * C)`` to ``(N, C, h * p, w * p)``."""
    h, w = grid
    n = patches.shape[0]
    c = patches.shape[-1] // (patch_size * patch_size)
    x = patches.reshape(n, h, w, patch_size, patch_size, c)
    return torch.einsum('nhwpqc->nchpwq', x).reshape(n, c, h * patch_size, w * patch_size)


def per_sample_l2(rows: torch.Tensor, sample_idx: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Per-sample, per-channel L2 norm of the rows ``(M, C)`` that belong to each sample.

    Args:
        rows: Features ``(M, C)`` of the visible positions of a batch.
        sample_idx: Sample index ``(M,)`` of each row.
        num_samples: Batch size ``N``.

    Returns:
        ``(N, C)``; zeros for a sample without rows. ``vector_norm`` is used so
        the gradient of a zero norm is 0, as in the dense GRN.
    """
    return torch.stack([torch.linalg.vector_norm(rows[sample_idx == b], dim=0) for b in range(num_samples)])
