#!/usr/bin/env bash
# The prepared GPU check: about 8 minutes on one H100, every figure of the GPU plan in
# one run. Random-weight models of the real shapes in bfloat16 (nothing is downloaded):
#   extraction   musicgen-melody shape: clips/s and the fraction of the bf16 roofline
#   generation   musicgen-small shape, 10 s: steered (every layer) vs unsteered
#   grid         musicgen-small shape, 10 s: one setting per call vs shared batches
# Prints one line per figure at the end (full logs in $OUT or /tmp/gpu_check).
#
#   benchmarks/gpu_check.sh          # on a GPU machine
#   benchmarks/gpu_check.sh --cpu    # checks the script on a CPU in ~2 min (tiny shapes)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOGS=${OUT:-/tmp/gpu_check}
mkdir -p "$LOGS"

if [ "${1:-}" = "--cpu" ]; then
    DEV=(--device cpu --dtype float32); BIG=tiny; SMALL=tiny; TOKENS=20; SECONDS_=1
else
    DEV=(--device cuda --dtype bfloat16); BIG=melody; SMALL=small; TOKENS=503; SECONDS_=10
fi

run() {  # name, command...: full output to its log, the last line kept
    local name=$1; shift
    echo "== $name: $*" >&2
    if "$@" >"$LOGS/$name.log" 2>&1; then
        tail -n 1 "$LOGS/$name.log" >>"$LOGS/summary"
    else
        echo "$name FAILED (see $LOGS/$name.log): $(tail -n 1 "$LOGS/$name.log")" >>"$LOGS/summary"
    fi
}

: >"$LOGS/summary"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')" >>"$LOGS/summary"
run extract "$PY" benchmarks/gpu_extract.py "${DEV[@]}" --shape "$BIG" --seconds "$SECONDS_" --batch 8 --batches 5
run steering_overhead "$PY" benchmarks/steering_overhead.py "${DEV[@]}" --shape "$SMALL" \
    --prompts 4 --max-new-tokens "$TOKENS" --repeats 3 --layers all
run steering_grid "$PY" benchmarks/steering_grid.py "${DEV[@]}" --shape "$SMALL" --settings 4 \
    --prompts 3 --seeds 2 --batch 24 --max-new-tokens "$TOKENS" --repeats 2
echo "== summary (one line per figure; logs in $LOGS)"
cat "$LOGS/summary"
