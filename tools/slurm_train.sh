#!/usr/bin/env bash
# Training on a Slurm cluster: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [--requeue] [train.py ARGS]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5) and SRUN_ARGS tune the allocation.
#
# Preemption: on SIGTERM, SIGINT or SIGUSR1 train.py finishes the iteration, saves WORK_DIR/latest.pth and exits
# with code 75. With --requeue (or SLURM_REQUEUE=1) this script then continues the run with --resume: inside an
# sbatch job it requeues the job (`scontrol requeue $SLURM_JOB_ID`; the job needs `#SBATCH --requeue`), otherwise
# it runs srun again, at most MAX_REQUEUES (default 100) times. Any other exit code is returned as it is.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [--requeue] [train.py options]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
REQUEUE=${SLURM_REQUEUE:-0}
MAX_REQUEUES=${MAX_REQUEUES:-100}
PREEMPTED_EXIT=75  # convnext.engine.PREEMPTED_EXIT
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}

TRAIN_ARGS=()
RESUME_GIVEN=0
for arg in "${@:5}"; do
  case "$arg" in
    --requeue) REQUEUE=1 ;;
    --resume|--resume=*) RESUME_GIVEN=1; TRAIN_ARGS+=("$arg") ;;
    *) TRAIN_ARGS+=("$arg") ;;
  esac
done
# A requeued run continues from the work dir's latest checkpoint (and starts afresh when there is none).
if [ "$REQUEUE" = 1 ] && [ "$RESUME_GIVEN" = 0 ]; then
  TRAIN_ARGS+=(--resume)
fi

# Slurm signals this shell too: keep it alive until training has saved and exited.
trap 'echo "slurm_train.sh: stop signal received; waiting for training to save its checkpoint" >&2' TERM INT USR1

requeues=0
while true; do
  status=0
  # shellcheck disable=SC2086
  srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm \
    ${TRAIN_ARGS[@]+"${TRAIN_ARGS[@]}"} || status=$?
  if [ "$status" -ne "$PREEMPTED_EXIT" ] || [ "$REQUEUE" != 1 ]; then
    exit "$status"
  fi
  if [ -n "${SLURM_JOB_ID:-}" ]; then
    echo "slurm_train.sh: preempted; requeueing job $SLURM_JOB_ID (it continues from $WORK_DIR/latest.pth)" >&2
    scontrol requeue "$SLURM_JOB_ID"
    exit "$status"
  fi
  requeues=$((requeues + 1))
  if [ "$requeues" -gt "$MAX_REQUEUES" ]; then
    echo "slurm_train.sh: preempted $requeues times, more than MAX_REQUEUES=$MAX_REQUEUES; giving up" >&2
    exit "$status"
  fi
  echo "slurm_train.sh: preempted; running again with --resume ($requeues/$MAX_REQUEUES)" >&2
done
