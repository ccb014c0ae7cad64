#!/usr/bin/env bash
# The published transfer comparisons (README "Transfer comparison", docs/*-paired-*), under the paired-seed
# protocol: compare pretrains one randomised-sim run per seed and one nominal-sim baseline itself, and seed i's
# zero-shot, fine-tuning and scratch units all start from pretraining run i. Each stage prints its wall-clock.
#
#   benchmarks/transfer.sh [main|scopes|l2sp|l2sp_long|l2sp_nav|sequence|negative|panda_pretrain|panda|logged|all]
#   (default: all, in order)
#
# Later stages reuse the earlier ones' units (same out= directory, same pretraining runs), so only what is new
# runs; a stage stopped midway continues where it stopped when run again (finished units are reused, a stopped
# training resumes from its last checkpoint). SIM2REAL (default .venv/bin/sim2real), PYTHON (default
# .venv/bin/python) and OUT (default runs/compare) can be set in the environment, MAIN_TASKS the tasks of
# `main` (default: navigate grasp), and SCOPE_JOBS, SEQUENCE_JOBS, NEGATIVE_JOBS the parallel units of a stage
# (default 2, one per core).
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SIM2REAL:-.venv/bin/sim2real}
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/compare}
export OMP_NUM_THREADS=1
what=${1:-all}
J=${N_JOBS:+n_jobs=$N_JOBS}  # parallel units of every stage (default 2); the *_JOBS variables override per stage

timed() {  # a stage, with its wall-clock
  local t0=$SECONDS
  "$@"
  echo "wall-clock: $((SECONDS - t0)) s for: $*"
}

main() {  # 5 paired seeds, both tasks, pretraining included
  for task in ${MAIN_TASKS:-navigate grasp}; do
    timed $S compare task=$task dynamics=real pretrained=train baseline=train seeds=5 \
      "budgets=[10000,30000,100000]" out=$OUT/$task-real-paired $J
  done
}

scopes() {  # fine-tuning scopes on the same pretraining runs (all, last, features with its own head rate)
  for task in ${SCOPE_TASKS:-grasp navigate}; do
    timed $S compare task=$task dynamics=real pretrained=train baseline=train seeds=5 \
      "budgets=[10000,30000,100000]" \
      "conditions=[zero_shot,nominal_zero_shot,finetune,finetune_last,finetune_features,scratch]" \
      out=$OUT/$task-real-paired ${SCOPE_JOBS:+n_jobs=$SCOPE_JOBS} $J
  done
}

first_runs() {  # the first $2 pretraining runs of a paired comparison in $1, as a list override
  python3 - "$1" "$2" <<'EOF'
import json, sys
from pathlib import Path
specs = [(json.loads(p.read_text()), p.with_suffix("")) for p in (Path(sys.argv[1]) / "units").glob("*.json")]
runs = sorted((u["seed"], str(d)) for u, d in specs if u.get("condition") == "pretrain")
print("[" + ",".join(d for s, d in runs if s < int(sys.argv[2])) + "]")
EOF
}

l2sp() {  # specialising vs keeping on grasping: L2-SP strengths, 3 paired seeds, 30 k steps, two target profiles
  local runs
  runs=$(first_runs $OUT/grasp-real-paired 3)
  for profile in real heavy; do
    timed $S compare task=grasp dynamics=$profile "pretrained=$runs" seeds=3 "budgets=[30000]" \
      "conditions=[zero_shot,finetune,finetune_l2sp]" "l2sp=[0.01,0.1,1.0]" out=$OUT/grasp-$profile-l2sp $J
  done
}

sequence() {  # lifelong: real -> heavy -> slippery -> real, plain and L2-SP, 3 paired seeds, 30 k steps a stage
  local runs
  runs=$(first_runs $OUT/grasp-real-paired 3)
  timed $S compare task=grasp dynamics=real "pretrained=$runs" seeds=3 "conditions=[sequence,sequence_l2sp]" \
    "sequence.profiles=[real,heavy,slippery,real]" sequence.steps=30000 out=$OUT/grasp-sequence \
    ${SEQUENCE_JOBS:+n_jobs=$SEQUENCE_JOBS} $J
}

l2sp_long() {  # grasping at 100 k target steps, where plain fine-tuning forgets (retention 89 % vs 98 %): L2-SP 1.0
  local runs
  runs=$(first_runs $OUT/grasp-real-paired 3)
  timed $S compare task=grasp dynamics=real "pretrained=$runs" seeds=3 "budgets=[10000,30000,100000]" \
    "conditions=[zero_shot,finetune,finetune_l2sp]" "l2sp=[1.0]" out=$OUT/grasp-real-l2sp-100k $J
}

l2sp_nav() {  # navigation at the L2-SP strength chosen on grasping (L2SP_NAV), 3 paired seeds, 30 k steps
  local runs
  runs=$(first_runs $OUT/navigate-real-paired 3)
  timed $S compare task=navigate dynamics=real "pretrained=$runs" seeds=3 "budgets=[30000]" \
    "conditions=[zero_shot,finetune,finetune_l2sp]" "l2sp=[${L2SP_NAV:-0.1}]" out=$OUT/navigate-real-l2sp $J
}

negative() {  # negative transfer and its mitigations: Hopper pretrained with actuators at 0.3x their strength (a
  # sim whose motor constant is off by ~3x), fine-tuned on Hopper's `real` profile; scratch learns within the budget
  timed $S compare task=hopper dynamics=real pretrained=train pretrain.randomization=none \
    'pretrain.overrides=["dynamics.actuator_gain_scale=0.3","steps=300000","eval.targets=[train]","eval.interval=100000"]' \
    seeds=${NEGATIVE_SEEDS:-5} "budgets=[20000,50000,100000]" eval.interval=10000 eval.episodes=10 \
    "conditions=[zero_shot,finetune,finetune_reset,finetune_fallback,scratch]" fallback.decide_at=10000 \
    fallback.episodes=10 out=$OUT/hopper-real-negative ${NEGATIVE_JOBS:+n_jobs=$NEGATIVE_JOBS} $J
}

panda_pretrain() {  # the Panda lift's pretraining runs: the learning benchmark's 5 randomised seeds and 3 nominal
  timed $PY benchmarks/learning.py --task panda_lift --seeds 0 1 2 3 4 --jobs ${N_JOBS:-2}
  timed $PY benchmarks/learning.py --task panda_lift --seeds 0 1 2 --out runs/bench_nominal --jobs ${N_JOBS:-2} \
    -- dr=none
}

panda() {  # the Panda lift, 5 paired seeds starting from the learning benchmark's runs (panda_pretrain)
  local r=$PWD/runs/bench/panda_lift n=$PWD/runs/bench_nominal/panda_lift
  timed $S compare task=panda_lift dynamics=real "pretrained=[$r/s0,$r/s1,$r/s2,$r/s3,$r/s4]" \
    "baseline=[$n/s0,$n/s1,$n/s2]" seeds=5 "budgets=[10000,30000,100000]" out=$OUT/panda_lift-real-paired $J
}

logged() {  # the logged-data route: 20 logged episodes of the shipped <task>-dr on `real` (exploration noise 0.1, as
  # a robot's logs would be), a calibration on those logs, a policy pretrained in the calibrated sim (the task's
  # tuned recipe, seed 0, development profiles only), then zero-shot vs that policy vs offline fine-tuning on 5, 10
  # and 20 of the logs, 5 evaluation seeds. A finished step is skipped when the stage runs again.
  local d data
  for task in ${LOGGED_TASKS:-navigate grasp}; do
    d=$OUT/$task-real-logged-inputs data=$d/$task-real-logs-v0  # a Minari id: <name>-v<N>
    [ -d $data ] || timed $S collect policy=$task-dr task=$task dynamics=real episodes=20 action_noise=0.1 seed=0 \
      out=$data hydra.run.dir=$d/collect
    [ -f $d/calibrate/calibration.json ] || timed $S calibrate data=$data seed=0 hydra.run.dir=$d/calibrate
    [ -f $d/calibrated/policy.safetensors ] || timed $S train task=$task dr=$d/calibrate seed=0 progress=false \
      "eval.targets=[train,dev_a,dev_b]" hydra.run.dir=$d/calibrated
    timed $S compare task=$task dynamics=real pretrained=$task-dr calibrated=$d/calibrated data=$data seeds=5 \
      "conditions=[zero_shot,calibrated,logged]" "logged_episodes=[5,10,20]" out=$OUT/$task-real-logged $J
  done
}

case $what in
  main) main ;;
  scopes) scopes ;;
  l2sp) l2sp ;;
  l2sp_long) l2sp_long ;;
  l2sp_nav) l2sp_nav ;;
  sequence) sequence ;;
  negative) negative ;;
  panda_pretrain) panda_pretrain ;;
  panda) panda ;;
  logged) logged ;;
  all) main; scopes; l2sp; l2sp_long; l2sp_nav; sequence; negative; panda_pretrain; panda; logged ;;
  *) echo "usage: $0 [main|scopes|l2sp|l2sp_long|l2sp_nav|sequence|negative|panda_pretrain|panda|logged|all]" >&2; exit 2 ;;
esac
