"""A tiny training on an extxyz file or a packed dataset, as its own process.

``python packed_worker.py OUT --data FILE [--epochs N] [--checkpoint-every K] [--log-reads]``:
trains the toy model on the first 10 structures of FILE and validates on the rest (the settings
of ``train_worker.config``); under torchrun or a (faked) SLURM launch each rank trains on its
share. With ``--log-reads`` every rank writes the indices of the training structures it read
during ``fit`` to ``OUT/reads_<rank>.json``. Rank 0 writes the final raw parameters to
``OUT/params.pt``.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import torch  # noqa: E402
from train_helpers import toy_model  # noqa: E402
from train_worker import config  # noqa: E402

from pyg_fcl.train import Trainer, read_training_data  # noqa: E402


class ReadLog(Sequence):
    """A lazy view that records which indices were read."""

    is_lazy = True

    def __init__(self, base) -> None:
        self.base, self.reads = base, []

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        self.reads.append(int(index))
        return self.base[index]


def split(data):
    return data[:10], data[10:]


def main() -> None:
    # a hung rank prints every thread's stack and exits, so a failing test shows where it hung
    faulthandler.dump_traceback_later(100, exit=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--log-reads", action="store_true")
    args = parser.parse_args()
    train, val = split(read_training_data(args.data))
    if args.log_reads:
        train = ReadLog(train)
    trainer = Trainer(
        toy_model(),
        train,
        val,
        config(args.out, epochs=args.epochs, checkpoint_every=args.checkpoint_every),
    )
    if args.log_reads:
        train.reads.clear()  # count what fit() reads, not the normalisation pass
    trainer.fit()
    if args.log_reads:
        path = Path(args.out) / f"reads_{trainer.ctx.rank}.json"
        path.write_text(json.dumps({"world": trainer.ctx.world_size, "reads": train.reads}))
    if trainer.ctx.is_main:
        torch.save(
            {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
            Path(args.out) / "params.pt",
        )
    trainer.ctx.close()  # every rank waits for rank 0's writes, then the group goes


if __name__ == "__main__":
    main()
