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
# 4. MD step times (NVE, 0.5 fs, 2x2x2 supercell of the naphthalene cell), the settings one after
#    the other, twice: 5 Å, the best global cutoff of the scan (3.5 Å here), per-element cutoffs
for round in 1 2; do
  for s in "5:--cutoff 5" "g:--cutoff ${BEST_GLOBAL:-3.5}" \
           "el:--cutoffs $EVAL/front_element.json --lambda ${LAMBDA:-1e-3}"; do
    name=${s%%:*}; args=${s#*:}
    pyg-fcl md --model "$FT" --structure "$EVAL/nap_eval.xyz" --supercell 2 2 2 --steps 10 \
        --warmup 2 --threads 1 $args --json "$EVAL/md_222_${name}_r$round.json"
  done
done
