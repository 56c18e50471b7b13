"""A Pareto front flags a larger lambda that gave more pairs, and its plot labels lambda."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pyg_fcl.graph import CutoffSpec  # noqa: E402
from pyg_fcl.optim import ParetoFront, ParetoPoint  # noqa: E402


def _front(pairs: dict[float, float]) -> ParetoFront:
    rmax = {"pairs_per_atom": 50.0, "forces_rmse": 0.3}
    points = [
        ParetoPoint(lam, CutoffSpec.uniform(4.0), {"pairs_per_atom": p, "forces_rmse": 0.3}, rmax)
        for lam, p in pairs.items()
    ]
    return ParetoFront(points, rmax)


def test_non_monotonic_front_is_flagged():
    assert _front({1e-2: 10.0, 1e-3: 20.0, 1e-4: 30.0}).non_monotonic() == []
    issues = _front({1e-2: 25.0, 1e-3: 20.0, 1e-4: 30.0}).non_monotonic()
    assert len(issues) == 1
    assert "lambda 0.01 gives more pairs per atom (25.00)" in issues[0]
    assert "smaller lambda 0.001 (20.00)" in issues[0]


def test_plot_labels_every_lambda(tmp_path, monkeypatch):
    import matplotlib.axes

    labels = []
    real = matplotlib.axes.Axes.annotate

    def annotate(self, text, *args, **kwargs):
        labels.append(text)
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "annotate", annotate)
    _front({1e-2: 10.0, 1e-3: 20.0}).plot(tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0
    assert "λ=1e-02" in labels and "λ=1e-03" in labels
