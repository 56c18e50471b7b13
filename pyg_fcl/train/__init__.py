"""Training of pyg-fcl models: flexible-cutoff (FCL) and static-cutoff (SCL), single process or
DDP (``torchrun`` or SLURM's ``srun``).

Names are imported on first use, so that light submodules (``pyg_fcl.train.config_file``, used
while building the command line's ``--help``) load without torch_geometric and the trainer.
"""

import importlib

# public name -> submodule that defines it
_NAMES = {
    "Trainer": ".trainer",
    "TrainConfig": ".config",
    "NonFiniteLossError": ".trainer",
    "ExponentialMovingAverage": ".ema",
    "EnergyNormalization": ".normalization",
    "fit_energy_normalization": ".normalization",
    "loss_terms": ".losses",
    "combine_loss": ".losses",
    "LossTerms": ".losses",
    "read_training_data": ".data",
    "split_structures": ".data",
    "dataset_elements": ".data",
    "average_num_neighbors": ".data",
    "DistributedContext": ".distributed",
    "init_distributed": ".distributed",
    "LaunchInfo": ".launch",
    "launch_info": ".launch",
    "MetricLoggers": ".loggers",
    "load_teacher": ".teacher",
    "teacher_predictions": ".teacher",
    "cached_teacher_predictions": ".teacher",
    "with_teacher_labels": ".teacher",
    "load_config_file": ".config_file",
    "save_resolved_config": ".config_file",
}

__all__ = list(_NAMES)


def __getattr__(name: str):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
