"""The one-line error for a missing dependency of the kit."""

from __future__ import annotations

__all__ = ["TESTING_EXTRA", "missing_extra"]

TESTING_EXTRA = "pip install 'wireproto[testing]'"
"""What to install for the kit's Hypothesis engine and pytest plugin."""


def missing_extra(exc: ModuleNotFoundError) -> ModuleNotFoundError:
    """The one-line error for a missing dependency of the kit (Hypothesis, pytest)."""
    if TESTING_EXTRA in str(exc):
        return exc
    name = (exc.name or "a dependency").partition(".")[0]
    return ModuleNotFoundError(f"wireproto.testing needs {name}: {TESTING_EXTRA}", name=exc.name)
