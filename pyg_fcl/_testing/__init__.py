"""Implementation of :mod:`pyg_fcl.testing` (private; import from ``pyg_fcl.testing``)."""
