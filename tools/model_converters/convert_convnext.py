"""Converts a ConvNeXt checkpoint of any known format to this project's names.

Reads official V1/V2 (``model`` / ``model_ema``), FCMAE (sparse pre-training
or released dense), timm or mmpretrain checkpoints, detects the format, and
writes ``dict(state_dict=..., meta=...)`` in mmengine style:

- backbone keys under ``backbone.`` (official names, GRN ``(1, 1, 1, C)``, the
  classification norm as ``backbone.norm{last}``), so the file loads into an
  mmpretrain ``ImageClassifier`` with ``convnext.ConvNeXt`` and into
  detectors / segmentors with ``init_cfg=dict(type='Pretrained',
  checkpoint=OUT)`` (with or without ``prefix='backbone.'``);
- the classifier as ``head.fc.{weight,bias}`` (mmpretrain ``LinearClsHead``);
- FCMAE decoder keys (``proj``, ``mask_token``, ``decoder``, ``pred``) unchanged.

The output name gets the first 8 hex digits of its sha256, as OpenMMLab's
``publish_model``: ``OUT.pth`` becomes ``OUT-<sha256[:8]>.pth``.

Example::

    python tools/model_converters/convert_convnext.py convnext_tiny_1k_224.pth convnext_t_in1k.pth
"""

import argparse
import hashlib
import os
import sys

import torch

from convnext.launch import exit_on_config_error
from convnext.models.checkpoint import (
    BACKBONE_PREFIX,
    NON_BACKBONE_PREFIXES,
    convert_to_convnext,
    unwrap_state_dict,
)
from convnext.serialization import read_checkpoint

HASH_DIGITS = 8
"""Hex digits of the sha256 appended to the output file name."""

CHUNK_BYTES = 1 << 20
"""Read size when hashing the output file."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='input checkpoint: a local file or an http(s) URL')
    parser.add_argument('dst', help='output path; the sha256 prefix is inserted before the extension')
    return parser.parse_args(argv)


def to_mmengine_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Prefixes backbone keys with ``backbone.``; head and FCMAE decoder keys stay."""
    return {(k if k.startswith(NON_BACKBONE_PREFIXES) else BACKBONE_PREFIX + k): v for k, v in state_dict.items()}


def sha256_of(path: str) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b''):
            digest.update(chunk)
    return digest.hexdigest()


def save_with_hash(checkpoint: dict, dst: str) -> str:
    """Saves ``checkpoint`` and renames it to ``<stem>-<sha256[:8]><ext>``; returns the final path."""
    stem, ext = os.path.splitext(dst)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    torch.save(checkpoint, dst)
    final = f'{stem}-{sha256_of(dst)[:HASH_DIGITS]}{ext or ".pth"}'
    os.replace(dst, final)
    return final


def convert(src: str, dst: str) -> tuple[str, str]:
    """Converts ``src`` and writes it next to ``dst``; returns ``(final_path, format_name)``."""
    converted, format_name = convert_to_convnext(unwrap_state_dict(read_checkpoint(src)))
    state_dict = {k: v.contiguous() for k, v in to_mmengine_keys(converted).items()}
    meta = {'source': os.path.basename(src), 'source_format': format_name}
    return save_with_hash({'state_dict': state_dict, 'meta': meta}, dst), format_name


@exit_on_config_error
def main(argv: list[str] | None = None) -> int:
    """Converts the checkpoint named on the command line and reports the format; returns the exit code."""
    args = parse_args(argv)
    final, format_name = convert(args.src, args.dst)
    print(f'Detected format: {format_name}')
    print(f'Saved {final}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
