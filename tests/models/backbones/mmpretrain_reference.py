"""``mmpretrain.ConvNeXt`` as a reference model for parity tests, with parameters that make a difference."""

import torch
from torch import nn

SCALE_MEAN = 0.5
SCALE_STD = 0.3
"""Layer scale, GRN and norm parameters are drawn from N(0.5, 0.3): at their initial values (1e-6 layer scale,
zero GRN, unit norms) a wrongly mapped or skipped parameter would change nothing."""


def randomise_scales_and_norms(model: nn.Module) -> nn.Module:
    """Draws ``model``'s layer-scale, GRN and norm parameters at random (in place) and returns it in eval mode."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(('gamma', 'beta')) or 'norm' in name:
                param.normal_(SCALE_MEAN, SCALE_STD)
    model.eval()  # mmpretrain's train() returns None
    return model
