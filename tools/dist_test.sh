#!/usr/bin/env bash
# Distributed testing with torchrun, the OpenMMLab way.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# GPUS is the number of processes on this node (one per GPU; on a machine
# without CUDA they are CPU processes using gloo). Several nodes: run it on
# each node with NNODES, NODE_RANK, MASTER_ADDR and PORT set alike.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options]" >&2
    exit 2
fi
exec bash "$(dirname "$0")/dist_launch.sh" test.py "$3" \
    "$1" "$2" --launcher pytorch "${@:4}"
