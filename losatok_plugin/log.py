"""The package's logger: ``logging.getLogger("losatok_plugin")`` and its children (``getLogger(__name__)``).

The library only logs; a program that wants the messages on stderr calls :func:`configure_logging` once (the
recipes do), which prints them as ``[losatok] message``. Without it, Python's default applies (warnings and
above on stderr).
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "losatok_plugin"
_HANDLER_MARK = "_losatok_handler"


def configure_logging(level: int = logging.INFO) -> logging.Logger:
    """Send ``losatok_plugin`` log records at ``level`` and above to stderr as ``[losatok] message`` (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(getattr(h, _HANDLER_MARK, False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[losatok] %(message)s"))
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
    return logger
