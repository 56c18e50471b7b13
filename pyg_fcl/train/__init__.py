"""Training of pyg-fcl models: flexible-cutoff (FCL) and static-cutoff (SCL), single process or
DDP (``torchrun``)."""

from .config import TrainConfig
from .data import average_num_neighbors, dataset_elements, read_training_data, split_structures
from .distributed import DistributedContext, init_distributed
from .ema import ExponentialMovingAverage
from .losses import LossTerms, combine_loss, loss_terms
from .normalization import EnergyNormalization, fit_energy_normalization
from .trainer import NonFiniteLossError, Trainer

__all__ = [
    "Trainer",
    "TrainConfig",
    "NonFiniteLossError",
    "ExponentialMovingAverage",
    "EnergyNormalization",
    "fit_energy_normalization",
    "loss_terms",
    "combine_loss",
    "LossTerms",
    "read_training_data",
    "split_structures",
    "dataset_elements",
    "average_num_neighbors",
    "DistributedContext",
    "init_distributed",
]
