"""Paths from a baseline to the input, as the gradient core builds them (see core.Path)."""

from __future__ import annotations


class StraightLine:
    """x' + alpha (x - x'): the velocity x - x' is the same at every point, so it multiplies the
    row's weighted gradient sum once, after the sum (Sundararajan et al. 2017)."""

    row_fields = ("start", "delta")

    def points(self, rows: dict, alphas):
        return rows["start"] + alphas * rows["delta"]

    def finish(self, sums, rows: dict):
        return rows["delta"] * sums
