#!/usr/bin/env bash
# Reproduce the ablation of docs/alignment-ablation.md on the embedded model:
# one `constitutional run` per row, each under its own run name, then the
# table from every run's eval/metrics.json (experiments/ablation/table.py).
#
#   experiments/ablation/run.sh              # every row, in order (hours on 2 CPU cores)
#   experiments/ablation/run.sh row06 row07  # only the rows whose run name contains one of these
#   experiments/ablation/run.sh --table      # only print the table from the runs already made
#
# Every row's config is self-contained: rows 8 and 9 train row 6's distill ->
# SFT again with the same settings and seed instead of copying its run
# directory, so nothing is copied by hand. The one dependency between runs is
# row06-full-suites, which evaluates row06-64-harmful's SFT model and so runs
# after it. A killed row resumes when the script is run again (each stage
# reads back what it finished). Set CONSTITUTIONAL or PYTHON to use other
# executables than the repository's .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
C=${CONSTITUTIONAL:-.venv/bin/constitutional}
PY=${PYTHON:-.venv/bin/python}
X=experiments/ablation

# run name | config | extra overrides
ROWS=(
  "row01-02-sl-cai|configs/sl-cai.yaml|"                 # rows 1-2: the paper's SL-CAI -> SFT, then RL-CAI
  "row03-free-answers|$X/row03-free-answers.yaml|"        # row 3: distill only (a probe)
  "row04-fixed-shape|$X/row04-fixed-shape.yaml|"
  "row05-lookalike-train|$X/row05-lookalike-train.yaml|"
  "row06-64-harmful|$X/row06-64-harmful.yaml|"
  "row06-full-suites|$X/row06-full-suites.yaml|"         # needs row06-64-harmful's SFT model
  "row07-48-harmful|$X/row07-48-harmful.yaml|"
  "row08-dpo-classifier-pairs|$X/row08-dpo-classifier-pairs.yaml|"
  "row09-dpo-benign-pairs|$X/row09-dpo-benign-pairs.yaml|"
  "row10-instead-alternatives|$X/row10-instead-alternatives.yaml|"
  # row 11: the default demo, evaluated on the full held-out suites with 32 Elo prompts
  "row11-demo|configs/demo.yaml|--eval.harmful_limit=null --eval.benign_limit=null --eval.helpful_limit=48 --eval.elo_prompts=32"
  "row12-best-of-4-refusals|$X/row12-best-of-4-refusals.yaml|"
)

if [[ "${1:-}" != "--table" ]]; then
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name config extra <<<"$row"
    if [[ $# -gt 0 ]]; then
      wanted=0
      for pattern in "$@"; do [[ "$name" == *"$pattern"* ]] && wanted=1; done
      [[ $wanted == 1 ]] || continue
    fi
    echo "== $name: $C run $config --name=$name $extra"
    # shellcheck disable=SC2086  # $extra is a list of overrides
    "$C" run "$config" --name="$name" $extra
  done
fi
"$PY" "$X/table.py"
