"""Attribution methods, each one small module over the gradient core (core.py).

Adding a method: a module that builds its PathRows (or drives the core step by step) and a line
in build_method."""

from __future__ import annotations

from igcli.methods.explanation import Explanation
from igcli.methods.quadrature import METHODS, alphas_and_weights

__all__ = ["Explanation", "METHODS", "alphas_and_weights", "build_method"]


def build_method(model_call, input_shape: tuple, *, rule: str, steps: int, batch_size: int, branches: int | None = None, xla: bool = False):
    """The method a run uses, compiled for this model and engine-space shape."""
    from igcli.methods.ig import IntegratedGradients

    alphas, weights = alphas_and_weights(rule, steps)
    return IntegratedGradients.build(model_call, input_shape, alphas, weights, batch_size, branches, xla)
