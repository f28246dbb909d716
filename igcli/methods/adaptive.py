"""--steps auto: Integrated Gradients refined per instance until its attributions converge.

Each path's points lie on a dyadic mesh of [0, 1]. A leaf interval [a, b] holds three evaluated
points a, m = (a + b) / 2 and b, with v = (x - x') * dF/dx at each, and two trapezoid estimates of
its share of the attributions:

    coarse C = h/2 (v_a + v_b)        fine F = h/4 (v_a + 2 v_m + v_b)        h = b - a

The attributions are the sum of the leaves' F. Refining a leaf bisects it: each half needs only
its own midpoint (2 gradient evaluations), and every point already computed stays in use.

An instance's error estimate is the larger of
  - ||sum over leaves of (F - C)||_1 / (sqrt(3) ||A||_1): what the last refinement of every leaf
    changed (the adaptive form of ||A_2n - A_n|| / ||A_2n||), scaled to the refined result's
    error. On ReLU networks the gradient along the path is piecewise constant and jumps at points
    spread all along it. Halving an interval moves each jump's share of the result by exactly
    h/4, while the refined result's error for that jump lies anywhere in [-h/4, h/4]: the change
    is sqrt(3) times the error in root mean square (measured: estimate / true error 0.9-1.1 in
    the median on three networks). Where the gradient is smooth the trapezoid's error falls 4x
    per halving, the change is 3x the error, and the scaled estimate still overstates it;
  - |F(x) - F(x') - sum A| / ||A||_1: the completeness defect, a lower bound of the L1 error.
Leaves are ranked for refinement by max(||F - C||_1 / sqrt(3), |F(b) - F(a) - sum F|): the local
completeness defect catches a bump that a leaf's three points straddle without seeing it.

Each round bisects, per instance, what greedy one-leaf-at-a-time bisection would: the leaves
within a factor SPLIT of its largest leaf error, and no more new points than its estimate's 1/n
decline says it needs. (Bisecting whole fractions of the error mass instead refined the mesh
almost uniformly while the estimate was above twice the tolerance: 1.4x the evaluations for the
same worst error on the sample CNN's probabilities.)

Rounds are batched: every instance of a group that is still above the tolerance puts its new
midpoints into the same gradient calls, whatever its refinement level. Decisions for an instance
depend only on that instance, so results do not depend on which instances share a group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from igcli.methods.base import OneTargetAtATime, RowResults, Rows
from igcli.methods.core import GradientCore, PathRows
from igcli.methods.estimate import beyond_rounding, path_residuals
from igcli.methods.paths import StraightLine

GRID = 1 << 30  # positions along the path are integers k / GRID: exact, and fine enough
START_LEAVES = 4  # the first mesh: 4 leaves, 9 points per path
MIN_STEPS = 2 * START_LEAVES + 1
AIM = 1.0  # rounds aim the estimate at AIM x tolerance (measured: 0.9 spent 5% more, 1.2 took twice the rounds)
CHANGE_TO_ERROR = 1 / np.sqrt(3)  # the refined result's error over what the refinement changed, where the gradient jumps
SPLIT = 2.0  # a round bisects the leaves within this factor of the largest error (1.5 and 3 measured alike)
# At most this many bytes of gradient vectors held at once (each path keeps those its live leaves
# use, up to max_steps): float32 64x64x3 inputs at 1024 steps are refined 42 paths at a time, 224x224x3 3.
LIVE_BYTES = 2 << 30
FREEZE = 0.05  # a leaf whose error density is under FREEZE x the tolerance's is never refined again


@dataclass
class _Path:
    """One path (an instance and one of its baselines) and its mesh."""

    values: dict = field(default_factory=dict)  # position -> F there
    vectors: dict = field(default_factory=dict)  # position -> v there, while a live leaf uses it
    slopes: dict = field(default_factory=dict)  # position -> dF/dalpha there (the sum of v), kept
    leaves: list = field(default_factory=list)  # live (refinable) leaves (a, m, b, error)
    total: np.ndarray | None = None  # sum of every leaf's fine estimate F (live or frozen), float64
    change: np.ndarray | None = None  # sum of every leaf's F - C
    evaluations: int = 0

    def leaf(self, a: int, m: int, b: int):
        """(fine estimate, fine - coarse, ranking error) of the leaf [a, b]."""
        h = (b - a) / GRID
        va, vm, vb = (self.vectors[p].astype(np.float64) for p in (a, m, b))
        fine = h / 4 * (va + 2 * vm + vb)
        change = h / 4 * (2 * vm - va - vb)
        defect = beyond_rounding((self.values[b] - self.values[a]) - fine.sum(), self.values[a], self.values[b])
        return fine, change, max(CHANGE_TO_ERROR * float(np.abs(change).sum()), defect)

    def add_leaf(self, a: int, m: int, b: int) -> tuple:
        """Count the leaf [a, b] in the totals; -> the live leaf (a, m, b, ranking error)."""
        fine, change, error = self.leaf(a, m, b)
        self.total = fine if self.total is None else self.total + fine
        self.change = change if self.change is None else self.change + change
        return (a, m, b, error)

    def remove_leaf(self, a: int, m: int, b: int) -> None:
        fine, change, _ = self.leaf(a, m, b)
        self.total -= fine
        self.change -= change

    @property
    def result(self) -> np.ndarray:
        """The path's attributions: its leaves' fine estimates, summed."""
        assert self.total is not None  # every path starts with START_LEAVES leaves
        return self.total

    @property
    def coarse(self) -> np.ndarray:
        """The same with every leaf's coarse estimate: what the last refinement started from."""
        assert self.total is not None and self.change is not None
        return self.total - self.change

    def residuals(self) -> tuple[float, float]:
        """The completeness gap's evidence along the path (estimate.path_residuals): the sum of
        the residuals of its stretches, and of their squares."""
        positions = sorted(self.values)
        alphas = np.array(positions, np.float64) / GRID
        values = np.array([self.values[p] for p in positions])[None, :, None]
        slopes = np.array([self.slopes[p] for p in positions])[None, :, None]
        total, squares = path_residuals(alphas, values, slopes)
        return float(total[0, 0]), float(squares[0, 0])

    def release_unused(self) -> None:
        """Drop the vectors of points no live leaf needs (memory: live leaves, not all points)."""
        used = {p for a, m, b, _ in self.leaves for p in (a, m, b)}
        for position in [p for p in self.vectors if p not in used]:
            del self.vectors[position]


class AdaptiveIntegratedGradients(OneTargetAtATime):
    path = StraightLine()

    def __init__(self, core: GradientCore, tolerance: float, max_steps: int):
        self.core = core
        self.tolerance = float(tolerance)
        self.max_steps = int(max_steps)
        self.evaluations = 0  # gradient evaluations made by this method, all groups together

    @classmethod
    def build(cls, model_call, input_shape: tuple, tolerance: float, max_steps: int, batch_size: int, branches: int | None = None, xla: bool = False):
        return cls(GradientCore(model_call, input_shape, cls.path, batch_size, branches, xla), tolerance, max_steps)

    def attribute_one(self, rows: Rows) -> RowResults:
        """Refine the rows' instances together, or a few at a time where max_steps gradient
        vectors for every row would pass LIVE_BYTES (a group of large inputs)."""
        groups = int(rows.instance.max()) + 1 if len(rows.instance) else 0
        rows_per_instance = max(1, len(rows.instance) // max(groups, 1))
        worst = self.max_steps * rows_per_instance * rows.x[0].nbytes if len(rows.x) else 1
        together = max(1, int(LIVE_BYTES // worst))
        if groups <= together:
            return self._refine(rows)
        parts = []
        for first in range(0, groups, together):  # rows are ordered by instance
            members = (rows.instance >= first) & (rows.instance < first + together)
            parts.append(self._refine(Rows(rows.x[members], rows.baselines[members], rows.targets[members], rows.instance[members] - first)))
        names = ("attributions", "start_values", "steps", "error_estimates", "hit_max_steps", "coarse", "residuals")
        return RowResults(**{name: np.concatenate([getattr(part, name) for part in parts]) for name in names}, kappa=1 / CHANGE_TO_ERROR)

    def _refine(self, rows: Rows) -> RowResults:
        tensors = self.path.row_tensors(rows.x, rows.baselines)
        paths = [_Path() for _ in range(len(rows.targets))]
        groups = int(rows.instance.max()) + 1 if len(rows.instance) else 0
        own_rows = [np.flatnonzero(rows.instance == i) for i in range(groups)]
        first = np.arange(0, GRID + 1, GRID // (2 * START_LEAVES))
        pending = {row: list(first) for row in range(len(paths))}
        estimates = np.full(groups, np.inf)
        unconverged = np.zeros(groups, bool)  # stopped at --max-steps (or as fine as positions go)
        active = list(range(groups))
        while pending:
            self._evaluate(paths, pending, tensors, rows.targets)
            for row, positions in pending.items():
                self._grow(paths[row], positions)
            pending, still = {}, []
            for instance in active:
                members = own_rows[instance]
                own = [paths[r] for r in members]
                estimates[instance] = _estimate(own)
                converged = estimates[instance] <= self.tolerance
                chosen = {} if converged else self._choose(own, estimates[instance])
                if not chosen:  # done: nothing changes it again, so its estimate stays and its vectors can go
                    unconverged[instance] = not converged
                    for path in own:
                        path.leaves, path.vectors = [], {}
                    continue
                still.append(instance)
                for k, positions in chosen.items():
                    pending[int(members[k])] = positions
                for path in own:
                    path.release_unused()
            active = still
        steps = np.array([sum(paths[r].evaluations for r in members) for members in own_rows], np.int64)
        return RowResults(
            np.stack([p.result for p in paths]).astype(np.float32)[:, None],
            np.array([[p.values[0]] for p in paths]),
            steps=steps,
            error_estimates=estimates,
            hit_max_steps=unconverged,
            coarse=np.stack([p.coarse for p in paths]).astype(np.float32)[:, None],
            kappa=1 / CHANGE_TO_ERROR,
            residuals=np.array([p.residuals() for p in paths])[:, :, None],  # [R, 2, 1]
        )

    def _evaluate(self, paths: list, pending: dict, tensors: dict, row_targets: np.ndarray) -> None:
        """One batch of gradient calls for every pending point of every path."""
        rows = sorted(pending)
        point_rows = np.concatenate([np.full(len(pending[r]), r) for r in rows])
        positions = np.concatenate([pending[r] for r in rows])
        batch = PathRows(tensors, row_targets, point_rows, positions / GRID, np.ones(len(positions)))
        vectors, values = self.core.point_contributions(batch)  # one target per row: [P, 1, ...], [P, 1]
        for row, position, vector, value in zip(point_rows, positions, vectors[:, 0], values[:, 0]):
            path = paths[row]
            path.vectors[int(position)] = vector.copy()  # not a view: the call's whole array would stay alive
            path.values[int(position)] = float(value)
            path.slopes[int(position)] = float(vector.sum(dtype=np.float64))  # dF/dalpha: v = (x - x') dF/dx
            path.evaluations += 1
        self.evaluations += len(positions)

    def _grow(self, path: _Path, positions: list) -> None:
        """Turn newly evaluated points into leaves: the first mesh, or two halves per bisected leaf."""
        new = {int(p) for p in positions}
        if path.total is None:  # the first mesh: consecutive triples
            points = sorted(new)
            path.leaves = [path.add_leaf(a, m, b) for a, m, b in zip(points[0:-1:2], points[1::2], points[2::2])]
            return
        leaves = []
        for a, m, b, error in path.leaves:
            left, right = (a + m) // 2, (m + b) // 2
            if left in new:  # bisected: both halves' midpoints were evaluated in this round
                path.remove_leaf(a, m, b)
                leaves += [path.add_leaf(a, left, m), path.add_leaf(m, right, b)]
            else:
                leaves.append((a, m, b, error))
        path.leaves = leaves

    def _choose(self, own: list, estimate: float) -> dict:
        """The leaves to bisect next in one instance's paths. -> {k: positions}

        What bisecting one leaf at a time, always the largest error, would do next: every leaf
        whose error is within SPLIT of the largest (bisection leaves each half with about half
        its error or less, so such a greedy pass takes all of them before any half). At most as
        many new points as the error's 1/n decline says the estimate needs to reach AIM x
        tolerance, so that the last round does not overshoot."""
        norm = np.abs(np.mean([p.total for p in own], axis=0)).sum()
        candidates = []
        for k, path in enumerate(own):
            if self.max_steps - path.evaluations < 2:  # each bisection costs 2 evaluations
                continue
            live = []
            for a, m, b, error in path.leaves:
                # frozen: as fine as positions go, or far below the tolerance's share of the error
                if b - a < 4 or error <= FREEZE * self.tolerance * norm * len(own) * (b - a) / GRID:
                    continue
                live.append((a, m, b, error))
                candidates.append((error, k, a, m, b))
            path.leaves = live
        if not candidates:
            return {}
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))  # largest error first; ties by position
        most = len(candidates)  # bisections; an infinite estimate (attributions all 0) takes every one
        if np.isfinite(estimate):
            needed = sum(p.evaluations for p in own) * (estimate / (AIM * self.tolerance) - 1)
            most = max(1, int(np.ceil(needed / 2)))  # 2 new points per bisection
        budget = {k: (self.max_steps - p.evaluations) // 2 for k, p in enumerate(own)}
        chosen: dict[int, list[int]] = {}
        count = 0
        for error, k, a, m, b in candidates:
            if error < candidates[0][0] / SPLIT or count >= most:
                break
            if budget[k] <= 0:
                continue
            chosen.setdefault(k, []).extend([(a + m) // 2, (m + b) // 2])
            budget[k] -= 1
            count += 1
        return chosen


def _estimate(own: list) -> float:
    """An instance's relative L1 error estimate over its K paths (their mean is the result)."""
    total = np.mean([p.total for p in own], axis=0)
    change = np.mean([p.change for p in own], axis=0)
    ends = [v for p in own for v in (p.values[0], p.values[GRID])]
    defect = beyond_rounding(np.mean([p.values[GRID] - p.values[0] for p in own]) - total.sum(), *ends)
    norm = np.abs(total).sum()
    error = max(CHANGE_TO_ERROR * np.abs(change).sum(), defect)
    if norm == 0:
        return 0.0 if error == 0 else np.inf
    return float(error / norm)
