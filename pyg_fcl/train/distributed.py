"""Multi-process training with PyTorch's own distributed engine (DDP launched by ``torchrun`` or
by SLURM's ``srun``).

``torchrun --nproc_per_node=W ...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; ``srun``
sets ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``, ``SLURM_LOCALID`` and the node list
(:mod:`pyg_fcl.train.launch` reads either). :func:`init_distributed` joins the process group
(``nccl`` on CUDA, ``gloo`` on CPU). A process group created beforehand (e.g. by
``torch.multiprocessing.spawn``) is reused.
Rank 0 writes checkpoints and logs; every rank trains on its share of each global batch.

Collectives and the rendezvous time out after ``PYG_FCL_DIST_TIMEOUT`` seconds (default 1800,
torch's own default): a rank that died or hangs then ends the others with an error instead of
leaving them waiting. :meth:`DistributedContext.close` ends a run cleanly: every rank waits for
the others (rank 0 may still be writing files) before the process group goes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..device import resolve_device
from .launch import launch_info

__all__ = ["DistributedContext", "init_distributed", "resolve_device"]


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes:
        rank (int): global rank (0 in a single process).
        world_size (int): number of processes.
        local_rank (int): rank on this node (selects the GPU).
        device (torch.device): this process's device.
        owns_group (bool): :func:`init_distributed` created the process group (one created
            beforehand is left to its creator by :meth:`close`).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over processes in place (no-op in a single process); returns it."""
        if self.enabled:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Wait for every rank, then destroy the process group if this context created it
        (no-op in a single process)."""
        if self.enabled and dist.is_initialized():
            dist.barrier()
            if self.owns_group:
                dist.destroy_process_group()


def collective_timeout() -> timedelta:
    """``PYG_FCL_DIST_TIMEOUT`` (seconds, > 0; default 1800) as a ``timedelta``."""
    text = os.environ.get("PYG_FCL_DIST_TIMEOUT", "1800")
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"PYG_FCL_DIST_TIMEOUT must be a number of seconds > 0, got {text!r}")
    return timedelta(seconds=seconds)


def init_distributed(device: str | torch.device = "auto") -> DistributedContext:
    """Join the process group described by the environment (or reuse an existing one).

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``; with CUDA each process
            takes ``cuda:<local rank>`` (modulo the visible GPUs, for ``srun`` binding one GPU
            per task).

    Returns:
        DistributedContext: rank, world size, device.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        return DistributedContext(rank, world, local, resolve_device(device, local))
    info = launch_info()
    rank, world, local = info.rank, info.world_size, info.local_rank
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    dev = resolve_device(device, local % gpus if gpus else local)
    if world > 1:
        if not dist.is_available():
            raise ValueError(
                f"{info.launcher} started {world} processes but torch.distributed is not available"
            )
        info.export()  # init_process_group's env:// rendezvous reads MASTER_ADDR/MASTER_PORT
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world, timeout=collective_timeout()
        )
    return DistributedContext(rank, world, local, dev, owns_group=world > 1)
