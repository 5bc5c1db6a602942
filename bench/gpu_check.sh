#!/usr/bin/env bash
# The trainer's proof on one GPU, in one call of under 8 minutes (docs/training.md).
#
#   bench/gpu_check.sh prepare    # on a machine that reaches the package index: fills
#                                 # bench/.gpu-wheels (TRL, datasets and the other wheels the
#                                 # GPU image lacks, plus a wheel of this checkout)
#   bench/gpu_check.sh            # on the GPU machine, from the repository root
#
# Results go to $OUT/gpu-check (or ./gpu-check when OUT is unset): checks.json
# (bench/gpu_check.py), bench.json and bench.txt (bench/train.py), and log.txt.
# The GPU machine has no network: only what bench/.gpu-wheels holds is installed, each
# wheel only when its module does not import already, into a folder on PYTHONPATH.
set -uo pipefail

WHEELS=bench/.gpu-wheels
PY=${PYTHON:-python3}
RESULTS=${OUT:-.}/gpu-check
SITE=${TMPDIR:-/tmp}/datagen-gpu-site
BUDGET_S=${BUDGET_S:-450}  # the whole run stays under 8 minutes
# module:distribution pairs the lent image may lack (FIELD-NOTES "Training")
NEEDED="trl:trl datasets:datasets dill:dill multiprocess:multiprocess xxhash:xxhash
pandas:pandas pydantic:pydantic pydantic_core:pydantic_core annotated_types:annotated_types
typing_inspection:typing_inspection pluggy:pluggy click:click pytest:pytest
iniconfig:iniconfig fsspec:fsspec yaml:pyyaml tqdm:tqdm requests:requests dateutil:python_dateutil tzdata:tzdata"

prepare() {
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    local pins
    pins=$($PY -m pip list --format=freeze 2>/dev/null | grep -iE \
        '^(trl|datasets|dill|multiprocess|xxhash|pandas|pydantic|pydantic_core|annotated.types|typing.inspection|pluggy|click|pytest|iniconfig|fsspec|pyyaml|tqdm|requests|python.dateutil|tzdata)==')
    # shellcheck disable=SC2086
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" $pins || exit 1
    $PY -m pip wheel -q --no-deps --no-build-isolation -w "$WHEELS" . || exit 1
    du -sh "$WHEELS"
}

install_missing() {
    rm -rf "$SITE" && mkdir -p "$SITE"
    for pair in $NEEDED; do
        local module=${pair%%:*} dist=${pair##*:}
        if ! $PY -c "import $module" 2>/dev/null; then
            local wheel
            wheel=$(ls "$WHEELS"/"$dist"-*.whl "$WHEELS"/"${dist//_/-}"-*.whl 2>/dev/null | head -1)
            [ -n "$wheel" ] || { echo "note: no module $module and no wheel for it"; continue; }
            $PY -m zipfile -e "$wheel" "$SITE" && echo "installed $(basename "$wheel")"
        fi
    done
    $PY -m zipfile -e "$(ls "$WHEELS"/datagen-*.whl | head -1)" "$SITE"
    export PYTHONPATH="$SITE:$PWD"
    export DATAGEN_PLUGINS=trainer DATAGEN_HOME="$SITE/home"
}

run() {
    mkdir -p "$RESULTS"
    exec > >(tee "$RESULTS/log.txt") 2>&1
    local started=$SECONDS
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    install_missing
    $PY -c "import datagen_plugins.trainer, trl, datasets; print('trl', trl.__version__)" || exit 1
    timeout 180 $PY bench/gpu_check.py --out "$RESULTS/checks.json"
    echo "checks: exit $? after $((SECONDS - started)) s"
    local left=$((BUDGET_S - (SECONDS - started)))
    timeout "$left" $PY bench/train.py --out "$RESULTS/bench.json" | tee "$RESULTS/bench.txt"
    echo "bench: exit $? after $((SECONDS - started)) s"
}

case "${1:-run}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: bench/gpu_check.sh [prepare|run]"; exit 2 ;;
esac
