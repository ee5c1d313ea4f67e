#!/bin/sh
# The model store an image serves, built with the project's own commands (what `make archive` runs):
# train whatever ARTIFACTS lacks (quick profile), then archive every model into STORE.
#   sh docker/build-model-store.sh ARTIFACTS STORE cpu|gpu
# DEVICE is the archives' deviceType: TorchServe falls back to the CPU when a gpu archive finds no GPU.
set -eu
if [ "$#" -ne 3 ] || { [ "$3" != cpu ] && [ "$3" != gpu ]; }; then
    echo "usage: sh docker/build-model-store.sh ARTIFACTS STORE cpu|gpu" >&2
    exit 2
fi
artifacts=$1 store=$2 device=$3
python=${PYTHON:-python}
"$python" -m training train --missing --quiet --artifacts "$artifacts"
"$python" -m serving.archive --artifacts "$artifacts" --store "$store" --device-type "$device"
