#!/bin/bash
# Issue 28's ablation runs: one `sim2real train` per (task, variant, seed), N_JOBS at a time (default 2), each with the task's
# tuned settings (configs/tuning/<task>_<algo>.yaml) and the same budget. Every choice below was fixed before any
# of these runs (README "Closing the gap"): ADR's settings are configs/train.yaml's defaults, started from the
# task's `default` preset; K = 4 (4 steps of latency is the goal); training-time evaluation on the training
# distribution and the development profiles dev_a, dev_b only (never a named target).
#   benchmarks/gap_closing_runs.sh OUT TASK SEEDS VARIANTS     e.g. benchmarks/gap_closing_runs.sh runs/gap panda_lift "0 1 2" "dr adr adr_history adr_recurrent adr_privileged"
# A finished run is skipped and a stopped one resumed, so the script continues where it stopped. Set SIM2REAL to
# the command that runs the CLI (default: sim2real).
set -u
OUT=$1; TASK=$2; SEEDS=$3; VARIANTS=$4
S2R=${SIM2REAL:-sim2real}
COMMON="task=$TASK eval.targets=[train,dev_a,dev_b] eval.episodes=20 eval.interval=50000 progress=false"
declare -A ARGS=(
  [dr]="dr=default"
  [adr]="dr=adr adr.init=default"
  [adr_history]="dr=adr adr.init=default policy.history=4"
  [adr_recurrent]="dr=adr adr.init=default algo=recurrent_ppo"
  [adr_privileged]="dr=adr adr.init=default policy.privileged_critic=true"
)
mkdir -p "$OUT/logs"
for seed in $SEEDS; do for v in $VARIANTS; do
  run="$OUT/$TASK/${v}_s$seed"
  [ -f "$run/policy.safetensors" ] && continue  # finished before
  if [ -f "$run/overrides.started.yaml" ] && [ -n "$(ls -A "$run/checkpoints" 2>/dev/null)" ]; then
    echo "$S2R train resume=$run >> $OUT/logs/${TASK}_${v}_s$seed.log 2>&1"  # stopped: continue it
  else
    echo "$S2R train $COMMON ${ARGS[$v]} seed=$seed hydra.run.dir=$run > $OUT/logs/${TASK}_${v}_s$seed.log 2>&1"
  fi
done; done | xargs -P "${N_JOBS:-2}" -I{} bash -c {}
