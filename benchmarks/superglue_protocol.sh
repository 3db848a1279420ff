#!/usr/bin/env bash
# The paper's fine-tuning protocol end to end on real text, at a CPU size (docs/superglue.md, docs/findings.md):
# the BabyLM subset prepared, a 3-seed teacher family pretrained (one epoch of the tiny preset), an RTE and a WSC
# sweep (BOHB, 8 trials) on seed 0's model, Table 5 of the family with each sweep's best configuration (MRPC with
# Table 4's), `analyze compare` and each sweep's report. Prints each step's wall time; resumable (each step is
# skipped when its output exists). Usage: benchmarks/superglue_protocol.sh OUT [SHARED_DATA]
set -euo pipefail
OUT=${1:?usage: superglue_protocol.sh OUT [SHARED_DATA]}
DATA=$(cd "${2:-$(dirname "$0")/../../shared/data}" && pwd)  # absolute: trials run in their own folders
GLUE=$DATA/glue_filtered
BS=${BABYSWEEP:-babysweep}
RUNS=$OUT/runs
mkdir -p "$OUT"
step() { local t0=$SECONDS; echo "== $1"; shift; "$@"; echo "   $((SECONDS - t0)) s"; }

[ -d "$OUT/prepared" ] || step "prepare the BabyLM subset (vocab 6000, seq 128)" \
  $BS data prepare --corpus "$DATA/babylm_2023_subset" --out "$OUT/prepared" --vocab-size 6000 --seq-length 128 --quiet
# the recipe: Table 2's teacher at the tiny preset, one epoch, with science_cpu.yaml's centre for a CPU-sized run
RECIPE=(--set preset=tiny --set num_epochs=1 --set batch_size=16 --set lr=3.0e-3 --set num_warmup_steps=10
        --set weight_decay=0.1)
[ "$(grep -c TERMINATED "$RUNS/teacher/results.csv" 2>/dev/null)" = 3 ] || step "teacher family, 3 seeds" $BS replicate teacher --space search_spaces/teacher_table2.yaml --data "$OUT/prepared" \
    --seeds 3 "${RECIPE[@]}" --storage "$RUNS" --quiet
CK=$(python - "$RUNS" <<'PY'
import sys
from sweep.experiment import load_experiment
t = load_experiment("teacher", sys.argv[1]).table.sort_values("config/seed")
print(t["checkpoint"].iloc[0])
PY
)
echo "   seed 0's model: $CK"
for task in rte wsc; do
  [ -f "$RUNS/superglue/$task-sweep/results.csv" ] || step "$task sweep, BOHB, 8 trials" \
    $BS launch search_spaces/superglue/$task.yaml --trainable finetune --set checkpoint="$CK" --set glue_dir="$GLUE" \
      --samples 8 --max-concurrent 1 --storage "$RUNS/superglue" --name $task-sweep --quiet
  $BS status $task-sweep --storage "$RUNS/superglue" | grep "^best"
done
[ -d "$RUNS/teacher/finetune" ] || step "finetune-family teacher (rte, wsc from their sweeps; mrpc from Table 4)" \
    $BS finetune-family teacher --storage "$RUNS" --glue "$GLUE" --sweep rte="$RUNS/superglue/rte-sweep" \
      --sweep wsc="$RUNS/superglue/wsc-sweep" --tasks rte wsc mrpc
step "analyze compare teacher" $BS analyze compare teacher --storage "$RUNS"
for task in rte wsc; do step "report $task-sweep" $BS report $task-sweep --storage "$RUNS/superglue"; done
