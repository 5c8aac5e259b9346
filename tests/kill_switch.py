"""A pytest plugin for tests about killed runs: `-p tests.kill_switch` with VIGIL_KILL_AT set
makes the run SIGKILL itself at one precise moment of writing its reports:

    open:NAME     when a file whose name starts with NAME is created (a report's temporary file)
    rename:NAME   when a file is renamed onto NAME (a report replacing the previous one)
    append:NAME   when NAME is opened to append (a line of the history)

Python's audit hooks see those moments; nothing of the code under test is replaced.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def _hook(when: str, name: str) -> Any:
    def audit(event: str, args: tuple[Any, ...]) -> None:
        if when == "open" and event == "open" and isinstance(args[0], str | Path):
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if Path(args[0]).name.startswith(name) and flags & os.O_CREAT:
                os.kill(os.getpid(), signal.SIGKILL)
        elif when == "append" and event == "open" and isinstance(args[0], str | Path):
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            if Path(args[0]).name == name and flags & os.O_APPEND:
                os.kill(os.getpid(), signal.SIGKILL)
        elif when == "rename" and event == "os.rename" and Path(str(args[1])).name == name:
            os.kill(os.getpid(), signal.SIGKILL)

    return audit


def pytest_configure() -> None:
    moment = os.environ.get("VIGIL_KILL_AT")
    if moment:
        when, _, name = moment.partition(":")
        sys.addaudithook(_hook(when, name))
