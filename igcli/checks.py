"""How the options combine: what each option's type cannot see alone, refused in milliseconds,
before TensorFlow is imported. Every value here is already parsed (igcli/options.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from igcli.errors import UsageProblem
from igcli.methods.quadrature import MOST_GAUSS, MOST_POINTS, alphas_and_weights, embedded_rule
from igcli.options import ExplainOptions


def check_combinations(options: ExplainOptions) -> tuple[str, int | None]:
    """-> (the quadrature rule, the steps: None for --steps auto)."""
    steps = None if options.steps == "auto" else int(options.steps)
    # riemann_middle: the smallest worst error per gradient evaluation with an honest estimate
    # (benchmarks/fixed_estimate.py, docs/methods.md); --steps auto's points nest by halves
    rule = options.method or ("riemann_middle" if steps else "riemann_trapezoid")
    if steps is None:
        from igcli.methods.adaptive import MIN_STEPS

        if rule != "riemann_trapezoid":
            raise UsageProblem(
                "--steps auto refines nested points, keeping every gradient already computed: it works with --method riemann_trapezoid "
                f"(its default); {rule}'s points are not nested"
            )
        if options.max_steps < MIN_STEPS:
            raise UsageProblem(f"--max-steps {options.max_steps}: must be at least {MIN_STEPS} (the first mesh of --steps auto)")
    _check_methods(options, steps)
    if steps is not None:
        _check_capacity(options, rule, steps)
    try:
        alphas_and_weights(rule, steps or 2)
    except ValueError as error:
        raise UsageProblem(f"--method {rule}: {error}") from None
    if options.max_error is not None and (reason := estimate_reason(options, rule, steps)):
        raise UsageProblem(f"--max-error {options.max_error:g}: this run has no error estimate ({reason})")
    if options.xrai:
        if options.layer or Path(options.inputs).suffix.lower() in (".csv", ".npy", ".npz"):
            raise UsageProblem("--xrai draws regions of images: it needs image inputs, attributed at the model input (no --layer)")
        if importlib.util.find_spec("skimage") is None:
            raise UsageProblem("--xrai segments images with scikit-image: pip install 'igcli[xrai]'")
    if options.format == "zarr" and importlib.util.find_spec("zarr") is None:
        raise UsageProblem("--format zarr needs the zarr package: pip install 'igcli[zarr]'")
    from igcli import stores

    if not stores.exists(options.model):  # before the seconds of importing TensorFlow
        raise UsageProblem(f"{options.model}: no such model file or directory")
    return rule, steps


def _check_methods(options: ExplainOptions, steps: int | None) -> None:
    """The path, IDGI and SmoothGrad options, and how they combine with the rest."""
    if options.path != "straight":
        if steps is None:
            raise UsageProblem(f"--steps auto refines the straight path only; give --path {options.path} a number of steps")
        if options.path == "guided" and options.method is not None:
            raise UsageProblem("--method does not apply to --path guided: Guided IG takes its own steps (--steps)")
        if options.path == "blur" and (options.baseline.kind != "zero" or options.baseline_samples != 1):
            raise UsageProblem("--path blur starts from the blurred input: --baseline and --baseline-samples do not apply")
    if options.idgi and steps is None:
        raise UsageProblem("--idgi weighs a fixed set of points; give --steps a number")
    if options.smooth_squared and not options.smooth:
        raise UsageProblem("--smooth-squared needs --smooth N")
    if options.smooth_squared and options.max_delta is not None:
        raise UsageProblem("--max-delta: squared attributions (--smooth-squared) have no completeness to check")


def _check_capacity(options: ExplainOptions, rule: str, steps: int) -> None:
    """Step counts beyond what a run can hold, refused before any work (exit 2)."""
    if rule == "gausslegendre" and steps > MOST_GAUSS and options.path != "guided":
        raise UsageProblem(
            f"--steps {steps}: Gauss-Legendre takes at most {MOST_GAUSS:,} points (its nodes cost O(n^2) to compute); "
            "a uniform --method takes up to {MOST_POINTS:,}, and --steps auto puts its points where they matter"
        )
    paths = (options.baseline_samples if options.baseline.random else 1) * max(1, options.smooth)
    if steps * paths > MOST_POINTS:
        raise UsageProblem(
            f"--steps {steps}: at most {MOST_POINTS:,} path points per instance (steps x baseline samples x noisy copies: "
            f"{steps * paths:,}); the error falls as 1/steps, and --steps auto puts its points where they matter"
        )


def check_method_fits(options: ExplainOptions, model, space) -> None:
    """What needs the model and the attribution space to check."""
    if options.path == "blur" and (len(space.shape) != 3 or space.to_space is not None or model.input_layout):
        raise UsageProblem(
            f"--path blur blurs images (height, width, channels) at the model input; these are {tuple(space.shape)}"
            + (" at a layer" if space.to_space is not None else "")
        )
    if options.smooth and "int" in str(model.input_dtype):
        raise UsageProblem("--smooth adds noise to the input: token ids cannot take it")


def estimate_reason(options: ExplainOptions, rule: str, steps: int | None) -> str | None:
    """Why the run's attributions get no error estimate (igcli/methods/estimate.py), or None."""
    if steps is None:
        return None  # --steps auto estimates its own
    if options.path == "guided":
        return "Guided IG chooses each step from the last gradient: its points hold no coarser rule to compare with"
    if options.idgi:
        return "IDGI weighs each step by the change of F along it: no coarser rule to compare with"
    if options.smooth_squared:
        return "SmoothGrad-Squared averages squared attributions, which have no quadrature error of their own"
    if embedded_rule(rule, steps) is None:
        if rule == "gausslegendre":
            return "Gauss-Legendre's points hold no coarser rule; --method riemann_middle or riemann_trapezoid, or --steps auto, estimate their error"
        return f"{steps} points of {rule} hold no coarser rule"
    return None
