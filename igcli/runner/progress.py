"""A local run's progress bar counts gradient evaluations (path points), which move within one
large instance too; its total, and so tqdm's ETA, is re-estimated after every group: the points
still to come are the instances left times the points an instance takes (fixed steps), or the
mean so far (--steps auto). Reused instances (--resume) take none."""

from __future__ import annotations


class EvaluationProgress:
    def __init__(self, bar, instances: int | None, per_instance: int):
        """bar: an object with update(n), close() and a writable total (tqdm); instances: how
        many the run has (None: not known, a CSV streamed); per_instance: 0 when not fixed."""
        self.bar, self.instances, self.per_instance = bar, instances, per_instance
        self.done = 0  # instances finished, computed or reused
        self.computed = 0
        self.points = 0
        self._estimate()

    def add_points(self, count: int) -> None:
        """A gradient call finished `count` path points (the engine calls it)."""
        self.points += count
        self.bar.update(count)

    def add_group(self, computed: int, reused: int) -> None:
        self.done += computed + reused
        self.computed += computed
        self._estimate()

    def close(self) -> None:
        self.bar.close()

    def _estimate(self) -> None:
        per = self.per_instance or (self.points / self.computed if self.computed else 0)
        if self.instances is None or not per:
            return
        self.bar.total = round(self.points + max(0, self.instances - self.done) * per)
        self.bar.refresh()
