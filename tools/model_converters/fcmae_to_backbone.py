"""Converts an FCMAE checkpoint into a ConvNeXt V2 backbone checkpoint.

Usage:
    python tools/model_converters/fcmae_to_backbone.py SRC DST

SRC is an FCMAE checkpoint of ours (``tools/train.py`` with a
``configs/fcmae_*.py`` config: ``state_dict`` with ``backbone.*`` encoder keys)
or an official one (the sparse ``encoder.*`` MinkowskiEngine layout written by
``main_pretrain.py``, or the released dense ``*_fcmae.pt``); the format is
detected by :func:`convnext.models.checkpoint.convert_to_convnext`. The decoder
(``proj``, ``mask_token``, ``decoder``, ``pred``) is dropped. DST holds
``dict(state_dict={'backbone.<name>': tensor}, meta=...)``, which the
fine-tuning, detection and segmentation configs load with
``init_cfg=dict(type='Pretrained', checkpoint=DST)`` (the prefix may be given
as ``prefix='backbone.'`` or left out).
"""

import argparse
import sys
from pathlib import Path

import torch

from convnext.launch import exit_on_config_error
from convnext.models.checkpoint import BACKBONE_PREFIX, NON_BACKBONE_PREFIXES, convert_to_convnext, unwrap_state_dict
from convnext.serialization import read_checkpoint


def fcmae_to_backbone(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Backbone tensors ``{'backbone.<name>': tensor}`` of an FCMAE state dict, and the detected format.

    Raises:
        ValueError: the state dict holds no backbone tensor.
    """
    converted, format_name = convert_to_convnext(state_dict)
    backbone = {BACKBONE_PREFIX + k: v.clone() for k, v in converted.items() if not k.startswith(NON_BACKBONE_PREFIXES)}
    if not backbone:
        raise ValueError(f'No encoder tensor found in the {format_name} checkpoint (only decoder/head keys)')
    return backbone, format_name


def convert_file(src: str, dst: str) -> str:
    """Reads ``src``, writes the backbone checkpoint to ``dst``; returns the detected format."""
    backbone, format_name = fcmae_to_backbone(unwrap_state_dict(read_checkpoint(src)))
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=backbone, meta=dict(source=str(src), source_format=format_name)), dst)
    return format_name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='FCMAE checkpoint -> ConvNeXt V2 backbone checkpoint')
    parser.add_argument('src', help='FCMAE checkpoint (ours or official, sparse or dense)')
    parser.add_argument('dst', help='output backbone checkpoint (.pth)')
    return parser.parse_args(argv)


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 with one ``error:`` line for a missing or corrupt file)."""
    args = parse_args(argv)
    format_name = convert_file(args.src, args.dst)
    print(f'{args.src} ({format_name}) -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
