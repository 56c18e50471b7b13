"""``python -m pyg_fcl`` is the ``pyg-fcl`` command line."""

import sys

from .cli import main

sys.exit(main())
