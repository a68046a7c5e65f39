#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py ARGS]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each.
# Without CUDA the GPUS processes run on the CPU with the gloo backend.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options]" >&2
  exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" test.py "$3" "$1" "$2" "${@:4}"
