"""One group of instances through a method: targets chosen, baselines made, attributions
computed and stored, failures kept per instance. Shared by every runner."""

from __future__ import annotations

import numpy as np

from igcli import faithfulness
from igcli.errors import InstanceError
from igcli.results import Results

REUSED = "reused"  # a row an earlier attempt finished with the same content (--resume)


def explain_group(method, space, batch, plan) -> Results:
    targets, baselines, class_names, smoothing = plan.targets, plan.baselines, plan.class_names, plan.smoothing
    results = Results.empty(batch, space.stored_shape, targets.count, plan.metrics, plan.options.metric_steps, xrai=plan.options.xrai)
    good = np.array([error is None for error in results.errors])
    if good.any():
        x_space = space.map(batch.arrays[good])  # engine space: the input, or the layer's activations
        outputs = method.outputs(x_space)
        results.predicted[good] = outputs.argmax(axis=1)
        labels = [extra.get("label") for extra, ok in zip(batch.extras, good) if ok]
        chosen, problems = targets.resolve(batch.indices[good], outputs, labels)
        for row, problem in zip(np.flatnonzero(good), problems):
            results.errors[row] = problem
        keep = np.array([problem is None for problem in problems])
        rows = np.flatnonzero(good)[keep]
        x = batch.arrays[rows]
        try:
            ids = [batch.ids[row] for row in rows]
            baseline = baselines.make(x, batch.indices[rows], ids) if rows.size else x[:, None]  # no rows: empty, unused
            copies = smoothing.make(x, ids) if smoothing and rows.size else None
        except InstanceError as error:
            for row in rows:
                results.errors[row] = str(error)
            rows = rows[:0]
        if rows.size:
            x = x_space[keep]
            if space.to_space is not None:  # the path runs between the activations of x and x'
                baseline = _map_rows(space, baseline, x.shape[1:])
                copies = None if copies is None else _map_rows(space, copies, x.shape[1:])
            explanation = method.explain(x, baseline, chosen[keep], x_outputs=outputs[keep], copies=copies, squared=bool(smoothing and smoothing.squared))
            results.attributions[rows] = space.store(explanation.attributions)
            results.targets[rows] = chosen[keep]
            results.scores[rows] = explanation.scores
            results.baseline_scores[rows] = explanation.baseline_scores
            results.sums[rows] = explanation.sums
            results.deltas[rows] = explanation.deltas
            if explanation.steps is not None:
                results.steps[rows] = explanation.steps
                results.hit_max_steps[rows] = explanation.hit_max_steps
            if explanation.error_estimates is not None:
                results.error_estimates[rows] = explanation.error_estimates
            if explanation.sum_errors is not None:
                results.sum_errors[rows] = explanation.sum_errors
            if explanation.incomplete is not None:
                results.incomplete[rows] = explanation.incomplete
            if results.xrai is not None:  # --xrai: regions from what the model saw and its attributions
                from igcli.regions.maps import params_of, region_maps

                results.xrai[rows] = region_maps(batch.arrays[rows], explanation.attributions, params_of(plan.options))
            if plan.metrics:
                start = method.metric_baseline(x, baseline)
                for name in plan.metrics:
                    for k in range(targets.count):
                        curve = faithfulness.curves(
                            method.outputs, x, explanation.attributions[:, k], start, chosen[keep][:, k], name, plan.options.metric_steps
                        )
                        results.metric_curves[name][rows, k] = curve
                        results.metric_scores[name][rows, k] = faithfulness.area(curve)
    _name_classes(results, class_names)
    return results


def _name_classes(results: Results, class_names) -> None:
    if class_names:
        results.target_names = [[class_names[t] if t >= 0 else "" for t in row] for row in results.targets]
        results.predicted_names = [class_names[p] if p >= 0 else "" for p in results.predicted]


def _map_rows(space, rows: np.ndarray, shape: tuple) -> np.ndarray:
    """[G, K, ...input] -> [G, K, ...engine space]."""
    return space.map(rows.reshape(-1, *rows.shape[2:])).reshape(*rows.shape[:2], *shape)


def mark_reusable(batch, finished) -> list[int]:
    """Rows an earlier attempt finished with the same content (finished(id, content hash) says
    which): skipped by the method, their values filled in by the executor."""
    rows = [
        row for row, (ident, error, extra) in enumerate(zip(batch.ids, batch.errors, batch.extras)) if error is None and finished(ident, extra.get("hash", ""))
    ]
    for row in rows:
        batch.errors[row] = REUSED  # placeholder: the method skips the row
    return rows
