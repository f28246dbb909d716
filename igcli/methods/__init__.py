"""Attribution methods, each one small module over the gradient core (core.py).

Adding a method: a module with a RowMethod (base.py) that builds its PathRows for the core, or
drives the core step by step, and a line in build_method.

core.py        the gradient core            base.py     rows in, averaged explanation out
paths.py       straight line, blur, given   ig.py       IG along a core-built path (+ IDGI)
adaptive.py    --steps auto                 guided.py   Guided IG
quadrature.py  the rules' points and weights
"""

from __future__ import annotations

from igcli.methods.explanation import Explanation
from igcli.methods.quadrature import METHODS, alphas_and_weights, embedded_rule

__all__ = ["Explanation", "METHODS", "alphas_and_weights", "build_method"]


def build_method(plan, model_call, input_shape: tuple, batch_size: int, branches: int | None = None):
    """The method a run plan uses, compiled for this model and engine-space shape."""
    options = plan.options
    common = (model_call, input_shape)
    if plan.steps is None:
        from igcli.methods.adaptive import AdaptiveIntegratedGradients

        return AdaptiveIntegratedGradients.build(*common, options.tolerance, options.max_steps, batch_size, branches, options.xla)
    if options.path == "guided":
        from igcli.methods.guided import GuidedIntegratedGradients

        return GuidedIntegratedGradients.build(
            *common, plan.steps, batch_size, branches, options.xla, fraction=options.guided_fraction, max_dist=options.guided_max_dist, idgi=options.idgi
        )
    from igcli.methods.ig import IntegratedGradients
    from igcli.methods.paths import BlurPath, StraightLine

    path: StraightLine | BlurPath = StraightLine()
    if options.path == "blur":
        path = BlurPath(options.blur_sigma, input_shape, finite_step=0.01 if options.blur_derivative == "finite" else None)
    alphas, weights = alphas_and_weights(plan.rule, plan.steps)
    return IntegratedGradients.build(
        *common,
        alphas,
        weights,
        batch_size,
        branches,
        options.xla,
        path=path,
        idgi=options.idgi,
        targets=plan.targets.count,
        embedded=embedded_rule(plan.rule, plan.steps),
    )
