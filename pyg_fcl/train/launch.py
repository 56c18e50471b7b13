"""Where this process stands in a multi-process launch: ``torchrun`` or SLURM's ``srun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
``srun`` (one task per GPU or per CPU worker, no torchrun) sets instead

* ``SLURM_PROCID`` (global rank), ``SLURM_STEP_NUM_TASKS`` / ``SLURM_NTASKS`` (world size),
  ``SLURM_LOCALID`` (rank on the node);
* ``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST`` / ``SLURM_NODELIST``: the hosts in SLURM's
  compressed syntax (``gpu[001-004,010],login7``); the first host runs rank 0 and becomes the
  master address. :func:`first_host` expands the syntax itself (no ``scontrol`` needed);
* ``SLURM_JOB_ID``: the master port defaults to ``29500 + SLURM_JOB_ID % 1000``, so that jobs
  sharing a node do not clash; ``MASTER_ADDR`` / ``MASTER_PORT`` in the environment win.

torchrun's variables win over SLURM's (``srun torchrun ...`` works as well). A SLURM allocation
alone is not a launch: the world size is read from ``SLURM_STEP_NUM_TASKS``, which only ``srun``
sets, so ``python train.py`` inside an ``sbatch`` script stays a single process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LaunchInfo", "launch_info", "first_host", "expand_nodelist"]

DEFAULT_PORT = 29500


@dataclass(frozen=True)
class LaunchInfo:
    """Rank layout and rendezvous address of this process.

    Attributes:
        rank (int), world_size (int), local_rank (int): as torchrun's variables.
        master_addr (str), master_port (int): where rank 0 listens (``env://`` rendezvous).
        launcher (str): ``"torchrun"`` (or any launcher setting ``RANK``/``WORLD_SIZE``),
            ``"slurm"`` or ``"none"`` (a single process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    launcher: str = "none"

    def export(self, environ: dict | None = None) -> None:
        """Write the torchrun variables (what ``init_process_group("env://")`` reads)."""
        env = os.environ if environ is None else environ
        env["RANK"], env["WORLD_SIZE"] = str(self.rank), str(self.world_size)
        env["LOCAL_RANK"] = str(self.local_rank)
        env["MASTER_ADDR"], env["MASTER_PORT"] = self.master_addr, str(self.master_port)


def _int(env: Mapping[str, str], key: str) -> int:
    value = env[key]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {key}={value!r} is not an integer") from None


def expand_nodelist(nodelist: str) -> list[str]:
    """Expand SLURM's compressed host list, e.g. ``"a[01-03,7],b5"`` -> ``a01 a02 a03 a7 b5``.

    Zero padding is kept (``[08-10]`` -> ``08 09 10``); several bracket groups in one name
    (``r[1-2]n[3-4]``) expand as a product, in SLURM's order.

    Raises:
        ValueError: unbalanced brackets or a malformed range (the message shows the list).
    """
    names: list[str] = []
    depth, start = 0, 0
    for k, char in enumerate(nodelist + ","):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"SLURM node list {nodelist!r}: unbalanced ']'")
        elif char == "," and depth == 0:
            item = nodelist[start:k].strip()
            if item:
                names.extend(_expand_name(item, nodelist))
            start = k + 1
    if depth != 0:
        raise ValueError(f"SLURM node list {nodelist!r}: unbalanced '['")
    return names


def _expand_name(item: str, nodelist: str) -> list[str]:
    match = re.search(r"\[([^\]]*)\]", item)
    if match is None:
        return [item]
    head, tail = item[: match.start()], item[match.end() :]
    out = []
    for part in match.group(1).split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"SLURM node list {nodelist!r}: bad range {part!r}")
        width = len(lo)
        stop = int(hi) if sep else int(lo)
        if stop < int(lo):
            raise ValueError(f"SLURM node list {nodelist!r}: descending range {part!r}")
        for number in range(int(lo), stop + 1):
            out.extend(_expand_name(f"{head}{number:0{width}d}{tail}", nodelist))
    return out


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list (where rank 0 runs)."""
    hosts = expand_nodelist(nodelist)
    if not hosts:
        raise ValueError(f"SLURM node list {nodelist!r} names no host")
    return hosts[0]


def launch_info(environ: Mapping[str, str] | None = None) -> LaunchInfo:
    """Read the launch from the environment (``os.environ`` by default).

    Returns:
        LaunchInfo: torchrun's variables when ``WORLD_SIZE`` is set; else SLURM's when ``srun``
        started more than one task; else a single process.

    Raises:
        ValueError: a variable is not an integer, a rank outside the world, or a SLURM launch
            without any node list and without ``MASTER_ADDR``.
    """
    env = os.environ if environ is None else environ
    port_default = DEFAULT_PORT
    if "WORLD_SIZE" in env:
        info = LaunchInfo(
            rank=_int(env, "RANK") if "RANK" in env else 0,
            world_size=_int(env, "WORLD_SIZE"),
            local_rank=_int(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0,
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=_int(env, "MASTER_PORT") if "MASTER_PORT" in env else port_default,
            launcher="torchrun",
        )
    elif "SLURM_STEP_NUM_TASKS" in env and "SLURM_PROCID" in env:
        world = _int(env, "SLURM_STEP_NUM_TASKS")
        if world <= 1:
            return LaunchInfo()
        if "SLURM_JOB_ID" in env:
            port_default = DEFAULT_PORT + _int(env, "SLURM_JOB_ID") % 1000
        addr = env.get("MASTER_ADDR")
        if not addr:
            for key in ("SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"):
                if env.get(key):
                    addr = first_host(env[key])
                    break
        if not addr:
            raise ValueError(
                "srun launched several tasks but neither MASTER_ADDR nor SLURM_STEP_NODELIST / "
                "SLURM_JOB_NODELIST / SLURM_NODELIST is set: cannot find rank 0's host"
            )
        info = LaunchInfo(
            rank=_int(env, "SLURM_PROCID"),
            world_size=world,
            local_rank=_int(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0,
            master_addr=addr,
            master_port=_int(env, "MASTER_PORT") if "MASTER_PORT" in env else port_default,
            launcher="slurm",
        )
    else:
        return LaunchInfo()
    if not 0 <= info.rank < info.world_size:
        raise ValueError(
            f"{info.launcher}: rank {info.rank} is outside the world of {info.world_size}"
        )
    return info
