"""Runs an end-to-end demo on generated data, on the CPU, in a few minutes.

Usage:
    python tools/demo.py detection     # Mask R-CNN, ConvNeXt-V2-Atto, synthetic COCO; prints bbox/segm mAP
    python tools/demo.py segmentation  # UperNet, ConvNeXt-V2-Atto, synthetic ADE20K; prints mIoU
    python tools/demo.py fcmae         # FCMAE pretraining, conversion, fine-tuning; prints loss and accuracy

Each demo takes its own options (``python tools/demo.py detection --help``).
"""

import importlib.util
import sys
from pathlib import Path

DEMOS_DIR = Path(__file__).resolve().parent / 'demos'
DEMOS = ('detection', 'segmentation', 'fcmae')


def main(argv: list[str] | None = None) -> int:
    """Dispatches to ``tools/demos/<name>.py``'s ``main``; returns its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in DEMOS:
        print(f"error: unknown demo '{name}'; expected one of {', '.join(DEMOS)}", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location(f'convnext_demo_{name}', DEMOS_DIR / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(rest)


if __name__ == '__main__':
    sys.exit(main())
