"""Runs an end-to-end demo on generated data, on the CPU, in a few minutes.

Usage:
    python tools/demo.py detection     # Mask R-CNN, ConvNeXt-V2-Atto, synthetic COCO; prints bbox/segm mAP
    python tools/demo.py segmentation  # UperNet, ConvNeXt-V2-Atto, synthetic ADE20K; prints mIoU
    python tools/demo.py fcmae         # FCMAE pretraining, conversion, fine-tuning; prints loss and accuracy

Every demo writes its data into its work dir, and its config as a small leaf
that inherits one of the real configs in configs/ and overrides the data, the
image size, the schedule length and the model width (write_leaf in
tools/demos/common.py); it runs tools/train.py and tools/test.py on them as a
user would, and tiles what test.py --show-dir drew into predictions.png. Each
demo takes its own options (``python tools/demo.py detection --help``).
"""

import importlib
import subprocess
import sys

DEMOS = ('detection', 'segmentation', 'fcmae')
"""Modules of the ``demos`` package next to this script (on ``sys.path`` as the script's folder)."""

BAD_INPUT_EXIT = 2


def main(argv: list[str] | None = None) -> int:
    """Runs ``demos.<name>.main``; returns its exit code, or the exit code of the tool that failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0 if argv else BAD_INPUT_EXIT
    name, rest = argv[0], argv[1:]
    if name not in DEMOS:
        print(f"error: unknown demo '{name}'; expected one of {', '.join(DEMOS)}", file=sys.stderr)
        return BAD_INPUT_EXIT
    demo = importlib.import_module(f'demos.{name}')
    try:
        return demo.main(rest)
    except subprocess.CalledProcessError as error:
        command = ' '.join(map(str, error.cmd[1:]))
        print(f'error: demo {name}: {command} failed (exit {error.returncode})', file=sys.stderr)
        return error.returncode


if __name__ == '__main__':
    sys.exit(main())
