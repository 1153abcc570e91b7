"""Rotating log file and the last-resort error handler.

No user ever sees a raw traceback: an unexpected error is written to the log file and a
dialog says what happened in plain words and where the log is, so IT can collect it.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from itbconsole.paths import log_dir, make_private

LOG_FILE_NAME = "itbconsole.log"
log = logging.getLogger("itbconsole")


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens (the first and each one after a rotation) is owner-only:
    a log can name a pump serial or a patient's record number."""

    def _open(self) -> Any:
        stream = super()._open()
        make_private(Path(self.baseFilename))
        return stream


def setup_logging(folder: Path | None = None, level: int = logging.INFO) -> Path:
    """Log to a rotating file (1 MB x 5) in the user's data folder; return its path."""
    path = (folder or log_dir()) / LOG_FILE_NAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_itbconsole", False):
            root.removeHandler(handler)
            handler.close()
    handler = _PrivateRotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._itbconsole = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    return path


def install_excepthook(show: Callable[[str, str], None], log_path: Path) -> None:
    """Route uncaught exceptions to the log and to ``show(summary, log_path)``."""

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("Unexpected error:\n%s", "".join(traceback.format_exception(exc_type, exc, tb)))
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        summary = f"{exc_type.__name__}: {exc}"
        try:
            show(summary, str(log_path))
        except Exception:  # the dialog itself failed: the log still has it
            log.exception("Could not show the error dialog")

    sys.excepthook = hook
