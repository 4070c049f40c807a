"""The step progress the Ctrl-C handler reads from."""

from __future__ import annotations

import threading

from globalguide.ui import UI, StepProgress


def test_running_answers_on_the_thread_that_is_recording_an_event():
    # The SIGINT handler runs on the main thread between two bytecodes, possibly inside
    # event() while it holds the progress lock; asking running() there must not wait.
    progress = StepProgress(UI(), "Deploying")
    progress.event("run/a", "run-service", "a", "us-central1", "create", "running", 0.0)
    answers: list[list[str]] = []

    def handler_inside_event() -> None:
        with progress._lock:
            answers.append(progress.running())

    thread = threading.Thread(target=handler_inside_event, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), "running() waited on the lock its own thread holds"
    assert answers == [["run-service a [us-central1]"]]
