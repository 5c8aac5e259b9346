"""One round of `vigil watch`: a whole pytest run in this process, its output kept apart
(the watch prints its own lines). Here because it is pytest wiring."""

from __future__ import annotations

import contextlib
import io

import pytest


def run_pytest(args: list[str]) -> tuple[int, str]:
    """`pytest ARGS` in this process; (exit status, everything it printed)."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = int(pytest.main(args))
    return status, output.getvalue()
