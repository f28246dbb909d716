"""The error estimate of fixed step counts, and which rule to default to, measured in one run.

For each case (benchmarks/adaptive.py's: the shapes CNN in logits and in probabilities, a
MobileNetV2 trained from scratch, logits), every instance's attributions at 32, 50 and 128 points
of each rule are compared with a 4096-point Gauss-Legendre reference (relative L1 error,
sum |A - A_ref| / sum |A_ref|), next to the estimate igcli reports (igcli/methods/estimate.py).

    python benchmarks/fixed_estimate.py            # all cases, about 15 minutes on 2 cores
    python benchmarks/fixed_estimate.py --case shapes-logits

Per rule and step count: the worst and median true error, worst error x steps (the error per
gradient evaluation, lower is better), honesty (the share of instances whose true error is at most
2x the estimate; the bar: 95%), usefulness (the median of estimate / true error; the bar: at most
3), and how many instances the run flags as incomplete (none should be: these models are
differentiable along the path). Gauss-Legendre has no estimate (its points hold no coarser rule)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

RULES = ("riemann_middle", "riemann_trapezoid", "riemann_left", "riemann_right", "gausslegendre")
STEPS = (32, 50, 128)
REFERENCE_STEPS = 4096


def explain(model, x, targets, rule: str, steps: int):
    from igcli.methods.ig import IntegratedGradients
    from igcli.methods.quadrature import alphas_and_weights, embedded_rule

    alphas, weights = alphas_and_weights(rule, steps)
    method = IntegratedGradients.build(lambda t: model(t, training=False), x.shape[1:], alphas, weights, 256, embedded=embedded_rule(rule, steps))
    return method.explain(x, np.zeros((len(x), 1, *x.shape[1:]), np.float32), targets)


def run_case(name: str) -> list[dict]:
    from adaptive import CASES, errors

    model, x = CASES[name]()
    targets = np.argmax(model.predict(x, verbose=0), axis=1)
    tick = time.perf_counter()
    reference = explain(model, x, targets, "gausslegendre", REFERENCE_STEPS).attributions.astype(np.float64)
    print(f"{name}: {len(x)} instances, reference in {time.perf_counter() - tick:.0f} s", flush=True)
    rows = []
    for rule in RULES:
        for steps in STEPS:
            got = explain(model, x, targets, rule, steps)
            true = errors(got.attributions, reference)
            row = {"rule": rule, "steps": steps, "worst": true.max(), "median": float(np.median(true))}
            if got.error_estimates is not None:
                estimate = got.error_estimates
                flagged = got.incomplete
                row.update(honest=float(np.mean(true <= 2 * estimate)), useful=float(np.median(estimate / true)), flagged=int(flagged.sum()))
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    text = f"  {row['rule']:<18} {row['steps']:>4}  worst {row['worst']:.4f}  median {row['median']:.4f}  worst x steps {row['worst'] * row['steps']:6.2f}"
    if "honest" in row:
        text += f"  honest {row['honest']:.2f}  estimate/true {row['useful']:.2f}  flagged {row['flagged']}"
    else:
        text += "  (no estimate)"
    return text


def main() -> None:
    from adaptive import CASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    args = parser.parse_args()
    failed = []
    for name in CASES if args.case == "all" else [args.case]:
        for row in run_case(name):
            if "honest" in row and (row["honest"] < 0.95 or row["useful"] > 3 or row["flagged"]):
                failed.append(f"{name} {row['rule']} {row['steps']}")
    print("bar met: every rule with an estimate is honest for 95%, useful within 3x, flags nothing" if not failed else f"bar missed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
