"""Multi-process training with PyTorch's own distributed engine (DDP launched by ``torchrun`` or
by SLURM's ``srun``).

``torchrun --nproc_per_node=W ...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; ``srun``
sets ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``, ``SLURM_LOCALID`` and the node list
(:mod:`pyg_fcl.train.launch` reads either). :func:`init_distributed` joins the process group
(``nccl`` on CUDA, ``gloo`` on CPU). A process group created beforehand (e.g. by
``torch.multiprocessing.spawn``) is reused.
Rank 0 writes checkpoints and logs; every rank trains on its share of each global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

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
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistributedContext(rank, world, local, dev)
