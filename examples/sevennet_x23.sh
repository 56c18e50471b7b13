#!/usr/bin/env bash
# SevenNet-0 on the X23 molecular crystals, the numbers of docs/pretrained.md, with the CLI only.
# (The SevenNet counterpart of `make demo`, which stays on the small FCL-MACE to stay fast: this
# takes about an hour on 2 loaded CPU cores.) Needs the [sevenn] extra.
#
#   bash examples/sevennet_x23.sh [OUT] [FINE_TUNED_MODEL]
#
# 1. the untouched SevenNet-0 with per-element energy offsets to the vdW-DF2 labels
#    (OUT/zero_shot.pt; the training script's --zero-shot mode fits them on training frames);
# 2. errors vs DFT at global cutoffs 5-2.5 Å on the held-out crystal (13_naphthalene, every 3rd
#    crystal frame) and on every 8th test frame of the 20 training crystals, for SevenNet-0
#    zero-shot, the FCL-fine-tuned SevenNet-0 and the small FCL-MACE (`pyg-fcl evaluate`);
# 3. per-element and per-atom cutoff optimization on 8 naphthalene frames, evaluated on 13 others,
#    with a scan of global cutoffs as the baseline (`pyg-fcl optimize`);
# 4. MD step times at 5 Å, at the best global cutoff and at the optimized cutoffs (`pyg-fcl md`).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/sevennet_x23}
FT=${2:-models/pyg_fcl_models/pretrained/sevennet0_fcl_x23.pt}
MACE=models/pyg_fcl_models/pretrained/fcl_molcrys_x23.pt
PY=${PYTHON:-python}
EVAL=$OUT/eval
mkdir -p "$EVAL"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 1. zero-shot model (energy offsets only; the network is SevenNet-0)
[ -f "$OUT/zero_shot.pt" ] || $PY models/pyg_fcl_models/pretrained/train_sevennet_x23.py \
    --out "$OUT" --zero-shot

# evaluation frames: the same split as the training scripts
$PY - "$OUT" <<'EOF'
import sys
from pathlib import Path
import ase.io
sys.path.insert(0, "models/pyg_fcl_models/pretrained")
from train_molcrys_fcl import split
out = Path(sys.argv[1]) / "eval"
_, _, _, test = split(1, 1, ("13_naphthalene",))
ase.io.write(out / "test_every8.xyz", test[::8], format="extxyz")
nap = ase.io.read("data/molcrys_x23/13_naphthalene.xyz", index=":")
size = max(len(a) for a in nap)
crystal = [(k, a) for k, a in enumerate(nap) if len(a) == size]  # no gas-phase molecules
ase.io.write(out / "naphthalene_every3.xyz", [a for _, a in crystal][::3], format="extxyz")
ase.io.write(out / "nap_opt.xyz", [a for k, a in crystal if k % 10 == 5][:8], format="extxyz")
ase.io.write(out / "nap_eval.xyz", [a for k, a in crystal if k % 10 == 0][:16], format="extxyz")
EOF

# 2. errors at global cutoffs
for name_model in "zeroshot:$OUT/zero_shot.pt" "finetuned:$FT" "mace:$MACE"; do
  name=${name_model%%:*}; model=${name_model#*:}
  for c in 5 4 3.5 3 2.5; do
    for set in naph test; do
      data=$EVAL/naphthalene_every3.xyz; [ $set = test ] && data=$EVAL/test_every8.xyz
      json=$EVAL/${name}_${set}_${c}.json
      [ -f "$json" ] || pyg-fcl evaluate --model "$model" --data "$data" --cutoff $c \
          --group-by system --json "$json"
    done
  done
done
$PY examples/sevennet_x23_table.py "$EVAL"

# 3. cutoff optimization on the held-out crystal, global scan as baseline
for per in element atom; do
  scan=""; [ $per = element ] && scan="--scan 5 4.5 4 3.5 3 2.5"
  [ -f "$EVAL/front_$per.json" ] || pyg-fcl optimize --model "$FT" \
      --data "$EVAL/nap_opt.xyz" --eval-data "$EVAL/nap_eval.xyz" --per $per \
      --lambdas 1e-2 3e-3 1e-3 $scan --epochs 3 --batch-size 4 \
      --threads 1 --out "$EVAL/front_$per.json"
done

# 4. MD step times (NVE, 0.5 fs, 2x2x2 supercell of the naphthalene cell), the settings one after
#    the other, twice: 5 Å, the best global cutoff of the scan (3.5 Å here), per-element cutoffs
for round in 1 2; do
  for s in "5:--cutoff 5" "g:--cutoff ${BEST_GLOBAL:-3.5}" \
           "el:--cutoffs $EVAL/front_element.json --lambda ${LAMBDA:-3e-3}"; do
    name=${s%%:*}; args=${s#*:}
    pyg-fcl md --model "$FT" --structure "$EVAL/nap_eval.xyz" --supercell 2 2 2 --steps 10 \
        --warmup 2 --threads 1 $args --json "$EVAL/md_222_${name}_r$round.json"
  done
done
