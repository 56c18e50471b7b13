"""Optimizer parameter groups with per-prefix learning-rate factors (``TrainConfig.lr_scale``)."""

from __future__ import annotations

from torch import nn

__all__ = ["scaled_param_groups"]


def scaled_param_groups(
    model: nn.Module, lr: float, lr_scale: dict[str, float] | None
) -> list[dict]:
    """AdamW parameter groups: ``lr * factor`` for parameters whose name starts with a prefix of
    ``lr_scale`` (the longest matching prefix wins), ``lr`` for the rest.

    A factor of 0 freezes the parameters instead: ``requires_grad`` is switched off and they are
    left out of the optimizer (no gradient is computed for them, and the EMA does not track
    them). The unscaled group, when there is one, comes first (the learning rate the logs
    report). Nothing is frozen when the settings are refused.

    Raises:
        ValueError: a prefix that matches no parameter (a typo would otherwise silently train
            everything at full rate), or nothing left to train.
    """
    lr_scale = dict(lr_scale or {})
    factors = {}  # trainable parameter -> its factor
    matched = dict.fromkeys(lr_scale, 0)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        prefixes = [p for p in lr_scale if name.startswith(p)]
        factors[param] = 1.0
        if prefixes:
            best = max(prefixes, key=len)
            matched[best] += 1
            factors[param] = lr_scale[best]
    unused = [p for p, n in matched.items() if n == 0]
    if unused:
        names = sorted({n.split(".")[0] + "." for n, _ in model.named_parameters()})
        raise ValueError(
            f"lr_scale prefixes {unused} match no trainable parameter of "
            f"{type(model).__name__} (its top-level names: {names})"
        )
    by_factor: dict[float, list] = {1.0: []}
    for param, factor in factors.items():
        by_factor.setdefault(factor, []).append(param)
    frozen = by_factor.pop(0.0, [])
    if not any(by_factor.values()):
        raise ValueError("lr_scale freezes every parameter: nothing left to train")
    for param in frozen:
        param.requires_grad_(False)
    return [
        {"params": params, "lr": lr * factor, "lr_scale": factor}
        for factor, params in by_factor.items()
        if params
    ]
