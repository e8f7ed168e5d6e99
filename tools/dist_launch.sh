#!/usr/bin/env bash
# What tools/dist_train.sh and tools/dist_test.sh share: start GPUS processes
# of a tool with torchrun (torch.distributed.run).
#   bash tools/dist_launch.sh TOOL.py GPUS [tool args...]
# GPUS is the number of processes on this node (one per GPU; on a machine
# without CUDA they are CPU processes using gloo). Several nodes: run it on
# each node with NNODES, NODE_RANK, MASTER_ADDR and PORT set alike. PYTHON
# picks the interpreter (with selecsls_mm installed).
set -euo pipefail

TOOL=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/$TOOL" \
    "${@:3}"
