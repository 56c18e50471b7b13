"""Suite-wide test settings.

One intra-op thread: the tests use tiny tensors, where thread start-up dominates, and CI machines
have 2 cores shared with other processes (measured: a small ``index_add`` 31 ms with 2 threads
vs 0.2 ms with 1 on a loaded machine).
"""

import torch

torch.set_num_threads(1)
