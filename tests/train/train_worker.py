"""Runs a tiny training (toy model, molecular-crystal frames) as its own process.

Used by the DDP test (``torchrun --nproc_per_node=2 train_worker.py OUT``) and the killed-run test.
Rank 0 writes the final raw parameters to ``OUT/params.pt``.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]

import torch  # noqa: E402
from train_helpers import tiny_structures, toy_model  # noqa: E402

from pyg_fcl.train import TrainConfig, Trainer  # noqa: E402


def config(out_dir, **kwargs) -> TrainConfig:
    base = dict(
        epochs=2,
        batch_size=4,
        lr=5e-3,
        ema_decay=0.9,
        progress=False,
        device="cpu",
        seed=3,
        sampler_mode="atom",
        out_dir=out_dir,
    )
    base.update(kwargs)
    return TrainConfig(**base)


def main() -> None:
    # a hung rank prints every thread's stack and exits, so a failing test shows where it hung
    faulthandler.dump_traceback_later(100, exit=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    args = parser.parse_args()
    structures = tiny_structures()
    trainer = Trainer(
        toy_model(),
        structures[:10],
        structures[10:],
        config(args.out, epochs=args.epochs, checkpoint_every=args.checkpoint_every),
    )
    trainer.fit()
    if trainer.ctx.is_main:
        torch.save(
            {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
            Path(args.out) / "params.pt",
        )
    trainer.ctx.close()  # every rank waits for rank 0's writes, then the group goes


if __name__ == "__main__":
    main()
