#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG GPUS [train.py ARGS]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each.
# Without CUDA the GPUS processes train on the CPU with the gloo backend.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [train.py options]" >&2
  exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" train.py "$2" "$1" "${@:3}"
