"""Attribution methods, each one small module over the gradient core (core.py).

Adding a method: a module that builds its PathRows (or drives the core step by step) and a line
in build_method."""

from __future__ import annotations

from igcli.methods.explanation import Explanation
from igcli.methods.quadrature import METHODS, alphas_and_weights

__all__ = ["Explanation", "METHODS", "alphas_and_weights", "build_method"]


def build_method(plan, model_call, input_shape: tuple, batch_size: int, branches: int | None = None):
    """The method a run plan uses, compiled for this model and engine-space shape."""
    options = plan.options
    if plan.steps is None:
        from igcli.methods.adaptive import AdaptiveIntegratedGradients

        return AdaptiveIntegratedGradients.build(model_call, input_shape, options.tolerance, options.max_steps, batch_size, branches, options.xla)
    from igcli.methods.ig import IntegratedGradients

    alphas, weights = alphas_and_weights(plan.rule, plan.steps)
    return IntegratedGradients.build(model_call, input_shape, alphas, weights, batch_size, branches, options.xla)
