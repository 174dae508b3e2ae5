#!/usr/bin/env bash
# The edit test: train the default pipeline's distill + SFT stages under the
# packaged constitution and under two edits of it (copyright moved from
# restricted to permitted; a personal-dosing principle added), then evaluate the three SFT
# models on held-out prompts and print refusal rates per category with 95 %
# intervals (table.py). About 20 minutes per arm and 15 for the evaluation
# on 2 CPU cores.
#   experiments/edit/run.sh                 # all three arms, then the table
#   BASE_RUN=demo experiments/edit/run.sh   # reuse runs/demo as the base arm (same distill and SFT settings)
#   experiments/edit/run.sh --table         # only the table
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
HERE=experiments/edit
OUT=runs/edit-constitutions
BASE_RUN=${BASE_RUN:-edit-base}
if [[ "${1:-}" != "--table" ]]; then
  $BIN/python $HERE/edit.py cai-2022 $OUT/permit-copyright.yaml --permit respect-creators
  $BIN/python $HERE/edit.py cai-2022 $OUT/plus-dosing.yaml --add $HERE/principles/no-personal-dosing.yaml
  [[ "$BASE_RUN" == edit-base ]] && $BIN/constitutional run $HERE/arm.yaml --name=edit-base --constitution=cai-2022
  $BIN/constitutional run $HERE/arm.yaml --name=edit-permit --constitution=$OUT/permit-copyright.yaml
  $BIN/constitutional run $HERE/arm.yaml --name=edit-add --constitution=$OUT/plus-dosing.yaml
  models="[{label: base-constitution, spec: hf:runs/$BASE_RUN/sft/model}, {label: permit-copyright, spec: hf:runs/edit-permit/sft/model}, {label: plus-dosing, spec: hf:runs/edit-add/sft/model}]"
  $BIN/constitutional eval $HERE/eval.yaml "--eval.models=$models"
fi
$BIN/python $HERE/table.py runs/edit-eval
