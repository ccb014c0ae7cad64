#!/bin/bash
# Issue 28's test evaluation: each variant's pretraining seeds (benchmarks/gap_closing_runs.sh) scored zero-shot,
# once, on 100 test episodes each, by `sweep` (one policy per pretraining seed): on the nominal robot under 0, 3 and
# 4 steps of added action latency, and on each named target at its own values (a one-value sweep of
# action_latency at the profile's own latency is that profile). Nothing here feeds back into a choice.
#   benchmarks/gap_closing_eval.sh OUT TASK SEEDS VARIANTS
#   e.g. benchmarks/gap_closing_eval.sh runs/gap panda_lift "0 1 2" "dr adr adr_history adr_recurrent adr_privileged"
# then: python benchmarks/gap_closing_table.py OUT TASK   (docs/benchmarks/gap_closing_<task>.md and .csv: rliable
# IQM and 95 % CI over the pretraining seeds)
set -eu
OUT=$1; TASK=$2; SEEDS=$3; VARIANTS=$4
S2R=${SIM2REAL:-sim2real}
PY=${PYTHON:-python}
EPISODES=${EPISODES:-100}
mkdir -p "$OUT/logs"
# One sweep per (variant, seed, target) under eval/<task>/<variant>/s<seed>/, so a seed trained later is scored
# without scoring the others again (a sweep already written is skipped).
for v in $VARIANTS; do
  for target in nominal real heavy slippery; do
    if [ $target = nominal ]; then values="[0,3,4]"; else
      values="[$($PY -c "import sim2real.envs; from sim2real.sim.dynamics import resolve_dynamics as r; from sim2real.sim import tasks; t='$TASK'; print(r('$target', t, tasks.core(tasks.make(t)).params)['action_latency'])")]"
    fi
    for s in $SEEDS; do
      dest="$OUT/eval/$TASK/$v/s$s/sweep-$target"
      [ -f "$dest/sweep.csv" ] && continue
      $S2R sweep task=$TASK dynamics=$target "policies=[$OUT/$TASK/${v}_s$s]" param=action_latency "values=$values" \
        seeds=1 episodes=$EPISODES n_jobs=${N_JOBS:-2} out_dir=$dest > "$OUT/logs/eval_${TASK}_${v}_s${s}_$target.log" 2>&1
    done
  done
done
