"""SLURM's compressed node lists and the launch read from a faked srun / torchrun environment
(the 2-process srun run itself is in test_packed_training.py)."""

from __future__ import annotations

import pytest

from pyg_fcl.train.launch import DEFAULT_PORT, expand_nodelist, first_host, launch_info


@pytest.mark.parametrize(
    "nodelist, hosts",
    [
        ("node7", ["node7"]),
        ("gpu[001-003,010]", ["gpu001", "gpu002", "gpu003", "gpu010"]),
        ("a[08-10],b5,c-ib[1,3]", ["a08", "a09", "a10", "b5", "c-ib1", "c-ib3"]),
        ("r[1-2]n[3-4]", ["r1n3", "r1n4", "r2n3", "r2n4"]),
        (
            "login1.cluster.org,x[9-10].cluster.org",
            ["login1.cluster.org", "x9.cluster.org", "x10.cluster.org"],
        ),
    ],
)
def test_expand_nodelist(nodelist, hosts):
    assert expand_nodelist(nodelist) == hosts
    assert first_host(nodelist) == hosts[0]


@pytest.mark.parametrize("bad", ["a[1-3", "a]1", "a[x-3]", "a[5-2]"])
def test_bad_nodelist_is_named(bad):
    with pytest.raises(ValueError, match="SLURM node list"):
        expand_nodelist(bad)


def _srun(**extra):
    env = dict(
        SLURM_JOB_ID="123456",
        SLURM_PROCID="5",
        SLURM_LOCALID="1",
        SLURM_NTASKS="8",
        SLURM_STEP_NUM_TASKS="8",
        SLURM_STEP_NODELIST="gpu[017-020]",
        SLURM_JOB_NODELIST="gpu[017-020],gpu099",
    )
    env.update(extra)
    return env


def test_srun_environment():
    info = launch_info(_srun())
    assert (info.rank, info.world_size, info.local_rank) == (5, 8, 1)
    assert info.master_addr == "gpu017" and info.launcher == "slurm"
    assert info.master_port == DEFAULT_PORT + 123456 % 1000
    # explicit MASTER_ADDR / MASTER_PORT win; the job's list when the step's is missing
    env = _srun(MASTER_ADDR="10.0.0.1", MASTER_PORT="31337")
    assert (launch_info(env).master_addr, launch_info(env).master_port) == ("10.0.0.1", 31337)
    env = _srun()
    del env["SLURM_STEP_NODELIST"]
    assert launch_info(env).master_addr == "gpu017"
    exported = {}
    launch_info(_srun()).export(exported)
    assert exported == {
        "RANK": "5",
        "WORLD_SIZE": "8",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "gpu017",
        "MASTER_PORT": str(DEFAULT_PORT + 456),
    }


def test_torchrun_wins_and_plain_allocations_stay_single():
    env = _srun(RANK="1", WORLD_SIZE="2", LOCAL_RANK="1", MASTER_ADDR="h", MASTER_PORT="29501")
    info = launch_info(env)
    assert (info.launcher, info.rank, info.world_size, info.master_port) == (
        "torchrun",
        1,
        2,
        29501,
    )
    # inside an sbatch script but not under srun: no SLURM_STEP_NUM_TASKS, one process
    env = _srun()
    del env["SLURM_STEP_NUM_TASKS"]
    assert launch_info(env).world_size == 1 and launch_info(env).launcher == "none"
    assert launch_info(_srun(SLURM_STEP_NUM_TASKS="1")).world_size == 1
    assert launch_info({}).world_size == 1


def test_bad_srun_environment_is_named():
    with pytest.raises(ValueError, match="SLURM_PROCID='x'"):
        launch_info(_srun(SLURM_PROCID="x"))
    with pytest.raises(ValueError, match="rank 9 is outside the world of 8"):
        launch_info(_srun(SLURM_PROCID="9"))
    env = _srun()
    del env["SLURM_STEP_NODELIST"], env["SLURM_JOB_NODELIST"]
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        launch_info(env)


def test_collective_timeout_from_the_environment(monkeypatch):
    from datetime import timedelta

    from pyg_fcl.train.distributed import collective_timeout

    monkeypatch.delenv("PYG_FCL_DIST_TIMEOUT", raising=False)
    assert collective_timeout() == timedelta(seconds=1800)
    monkeypatch.setenv("PYG_FCL_DIST_TIMEOUT", "90")
    assert collective_timeout() == timedelta(seconds=90)
    for bad in ("0", "-5", "soon"):
        monkeypatch.setenv("PYG_FCL_DIST_TIMEOUT", bad)
        with pytest.raises(ValueError, match=f"PYG_FCL_DIST_TIMEOUT .* got '{bad}'"):
            collective_timeout()
