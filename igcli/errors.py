"""Errors that reach the user as one line, with the exit code SPEC.md gives them."""


class IgcliError(Exception):
    """A failure of the whole run (exit 1)."""

    exit_code = 1


class UsageProblem(IgcliError):
    """A bad option, or a MODEL/INPUTS that cannot be used (exit 2)."""

    exit_code = 2


class InstanceError(Exception):
    """One instance cannot be explained; the run goes on and lists it."""
