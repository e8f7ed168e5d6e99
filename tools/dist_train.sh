#!/usr/bin/env bash
# Distributed training with torchrun, the OpenMMLab way.
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# GPUS is the number of processes on this node (one per GPU; on a machine
# without CUDA they are CPU processes using gloo). Several nodes: run it on
# each node with NNODES, NODE_RANK, MASTER_ADDR and PORT set alike, e.g.
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 bash tools/dist_train.sh CFG 8
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py options]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/dist_launch.sh" train.py "$2" \
    "$1" --launcher pytorch "${@:3}"
