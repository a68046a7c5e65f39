#!/usr/bin/env bash
# torchrun launcher shared by dist_train.sh and dist_test.sh: dist_launch.sh SCRIPT GPUS [SCRIPT ARGS]
# SCRIPT is train.py or test.py in this folder; --launcher pytorch goes before the script's arguments.
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each.
# Without CUDA the GPUS processes run on the CPU with the gloo backend.
set -euo pipefail
SCRIPT=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}

exec "$PYTHON" -m torch.distributed.run \
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$ROOT/tools/$SCRIPT" --launcher pytorch "${@:3}"
