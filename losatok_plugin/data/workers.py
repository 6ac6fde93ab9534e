"""DataLoader workers that leave stop signals to the training loop.

A terminal's Ctrl-C, ``timeout`` and cluster schedulers (SLURM's ``scancel``) signal the whole process group,
so each DataLoader worker receives the SIGINT / SIGTERM meant for the trainer. A worker that dies of it makes
the main process raise ``RuntimeError: DataLoader worker ... is killed by signal`` at its next step, before the
trainer's handler can save its stop checkpoint: the steps since the last periodic checkpoint were lost (seen on
a GPU run ended by ``timeout``). Workers started with :func:`ignore_stop_signals` ignore both signals; the main
process saves, then shuts them down as it exits.
"""

from __future__ import annotations

import signal


def ignore_stop_signals(worker_id: int) -> None:  # noqa: ARG001 (DataLoader's worker_init_fn signature)
    """``worker_init_fn``: SIGINT and SIGTERM are ignored in this worker (the trainer handles them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
