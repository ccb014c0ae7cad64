#!/bin/bash
# Issue 28's test evaluation: each variant's pretraining seeds (benchmarks/gap_closing_runs.sh) scored zero-shot,
# once, on test episodes: `compare` (conditions=[zero_shot], rliable IQM and 95 % CI over the seeds) on each
# named target, and `sweep` over added action latency on the nominal robot. Nothing here feeds back into a choice.
#   benchmarks/gap_closing_eval.sh OUT TASK SEEDS VARIANTS [TARGETS]
#   e.g. benchmarks/gap_closing_eval.sh runs/gap panda_lift "0 1 2" "dr adr adr_history adr_recurrent adr_privileged"
# then: python benchmarks/gap_closing_table.py OUT TASK   (the table, docs/benchmarks/gap_closing_<task>.md/.csv)
set -eu
OUT=$1; TASK=$2; SEEDS=$3; VARIANTS=$4; TARGETS=${5:-"real nominal heavy slippery"}
S2R=${SIM2REAL:-sim2real}
EPISODES=${EPISODES:-100}
for v in $VARIANTS; do
  runs=$(for s in $SEEDS; do printf "%s," "$OUT/$TASK/${v}_s$s"; done); runs="[${runs%,}]"
  n=$(echo $SEEDS | wc -w)
  for target in $TARGETS; do
    dest="$OUT/eval/$TASK/$v/compare-$target"
    [ -f "$dest/summary.json" ] && continue
    $S2R compare task=$TASK dynamics=$target "pretrained=$runs" "conditions=[zero_shot]" seeds=$n \
      eval.episodes=$EPISODES "budgets=[10000]" n_jobs=2 out=$dest > "$OUT/logs/eval_${TASK}_${v}_$target.log" 2>&1
  done
  dest="$OUT/eval/$TASK/$v/sweep-latency"
  [ -f "$dest/sweep.csv" ] || $S2R sweep task=$TASK dynamics=nominal "policies=$runs" param=action_latency \
    "values=[0,1,2,3,4]" seeds=1 episodes=$EPISODES n_jobs=2 out_dir=$dest > "$OUT/logs/eval_${TASK}_${v}_latency.log" 2>&1
done
