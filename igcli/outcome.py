"""What a person or a pipeline reads when `igcli explain` ends: the --json summary on stdout, or
the closing lines on stderr (the counts, each failure, the instances that need a look)."""

from __future__ import annotations

from igcli.tally import ESTIMATE_WARNING, Tally

SHOWN = 20  # ids named in one line; more end in " ..."


def json_summary(tally: Tally) -> dict:
    return {
        "out": tally.out,
        "instances": tally.instances,
        "explained": tally.explained,
        "reused": tally.reused,
        "computed": tally.explained - tally.reused,
        "failed": tally.failed,
        "up_to_date": tally.up_to_date,
        "max_relative_delta": tally.max_relative_delta,
        "timings": tally.timings,
        "errors": tally.errors,
        "over_max_delta": tally.over_max_delta,
        "max_error_estimate": max(tally.estimates) if tally.estimates else None,
        "over_max_error": tally.over_max_error,
        "incomplete": tally.incomplete,
        **({"gradient_evaluations": tally.gradient_evaluations, "hit_max_steps": tally.hit_max_steps} if tally.steps_histogram else {}),
        "exit_code": tally.exit_code,
    }


def closing_lines(tally: Tally, options, counts: bool = True, quiet: bool = False) -> list[str]:
    """counts: the count line (not under --json, which says the same on stdout). quiet: only the
    failures, which a cron job's mail must show (the first SHOWN, then where all are listed)."""
    lines = []
    if tally.up_to_date and not quiet:
        lines.append(f"igcli: nothing new in {options.inputs} since the last run: {tally.out} is up to date")
    if counts and not quiet:
        computed = tally.explained - tally.reused
        lines.append(
            f"igcli: explained {tally.explained} of {tally.instances} instances into {tally.out} "
            f"({tally.reused} reused, {computed} computed, {tally.failed} failed)"
        )
    lines += [f"igcli: failed {error['source']}: {error['error']}" for error in tally.errors[:SHOWN]]
    if len(tally.errors) > SHOWN:
        lines.append(f"igcli: {len(tally.errors) - SHOWN} more failed: every failure is listed in {tally.out}/summary.csv and {tally.out}/run.json")
    if quiet:
        return lines
    if tally.stopped_early:
        lines.append("igcli: stopped at the first failure (--fail-fast)")
    if tally.uninformative:
        lines.append(
            f"igcli: {len(tally.uninformative)} instance(s) with an uninformative baseline, |F(x) - F(x')| under "
            f"1% of |F(x)|: {_shown(tally.uninformative)} (their attributions explain almost no change; try another --baseline)"
        )
    if tally.hit_max_steps:
        lines.append(
            f"igcli: {len(tally.hit_max_steps)} instance(s) stopped at --max-steps {options.max_steps} above --tolerance "
            f"{options.tolerance}: {_shown(tally.hit_max_steps)} (raise --max-steps, or the tolerance)"
        )
    if tally.reshaped:
        lines.append(_proportions_line(tally, options.fit))
    lines += _accuracy_lines(tally, options)
    return lines


def _proportions_line(tally: Tally, fit: str) -> str:
    height, width = tally.image_size or (0, 0)
    done = {"stretch": "stretched to it", "crop": "cropped to its proportions (--fit crop)", "pad": "padded to its proportions with black (--fit pad)"}[fit]
    more = " ..." if tally.reshaped > len(tally.reshaped_ids) else ""
    advice = " (--fit crop or --fit pad keeps their proportions)" if fit == "stretch" else ""
    return f"igcli: {tally.reshaped} image(s) with other proportions than the model's {width}x{height} input were {done}: {', '.join(tally.reshaped_ids)}{more}{advice}"


def _accuracy_lines(tally: Tally, options) -> list[str]:
    """The two diagnoses, kept apart: a quadrature error (more steps fix it) and a completeness
    gap the quadrature does not explain (more steps do not), with the gates they trip."""
    auto = options.steps == "auto"
    more = "lower --tolerance, or raise --max-steps" if auto else "raise --steps, or let --steps auto choose them"
    lines = []
    if tally.incomplete:
        lines.append(
            f"igcli: {len(tally.incomplete)} instance(s) whose attributions miss F(x) - F(x') by more than the quadrature explains: "
            f"{_shown(tally.incomplete)} (more steps will not close it: the model's gradients do not account for the change of its "
            "output, as behind a non-differentiable or gradient-blocking operation or a jump along the path)"
        )
    if tally.over_estimate and not auto:  # under auto, those are the ones that hit --max-steps
        lines.append(
            f"igcli: {len(tally.over_estimate)} instance(s) with an estimated error above {ESTIMATE_WARNING} (relative L1 of their "
            f"attributions), the worst first: {_shown(tally.worst_estimates)} ({more}; logits, --output logits, often need fewer steps than probabilities)"
        )
    if tally.over_max_error:
        lines.append(
            f"igcli: error estimate above --max-error {options.max_error} for {len(tally.over_max_error)} instance(s): {_shown(tally.over_max_error)} ({more})"
        )
    if tally.over_delta and not tally.over_max_delta:
        worst = [name for _, name in sorted(tally.over_delta, key=lambda pair: -pair[0])]
        lines.append(
            f"igcli: {len(worst)} instance(s) whose attributions' sum misses F(x) - F(x') by more than {ESTIMATE_WARNING:.0%} of it "
            f"(relative delta), the worst first: {_shown(worst)} ({more})"
        )
    if tally.over_max_delta:
        reached = " or --max-steps reached" if tally.hit_max_steps else ""
        gaps = [name for name in tally.over_max_delta if name in set(tally.incomplete)]
        beyond = f"; for {len(gaps)} of them more steps will not help (above)" if gaps else ""
        lines.append(
            f"igcli: relative completeness error above --max-delta {options.max_delta}{reached} for "
            f"{len(tally.over_max_delta)} instance(s): {_shown(tally.over_max_delta)} ({more}{beyond})"
        )
    return lines


def _shown(ids: list) -> str:
    return ", ".join(ids[:SHOWN]) + (" ..." if len(ids) > SHOWN else "")
