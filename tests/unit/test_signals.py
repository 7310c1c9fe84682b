"""SIGTERM (a CI job cancelled) ends a command as Ctrl-C does: exit 130 and a message, never a
silent death that leaves no report."""

from __future__ import annotations

import io
import os
import signal
import threading

from bootstrap.commands import app


def test_sigterm_is_an_interruption_and_the_previous_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    err = io.StringIO()

    def body() -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(5)  # the handler interrupts this wait
        return 0

    code = app.guarded(app.Invocation(err=err, log_format="json"), body)
    assert code == 130
    assert "interrupted; run the same command again to continue" in err.getvalue()
    assert signal.getsignal(signal.SIGTERM) == before
