"""The part of an API's contract that only hands over to the object holding its state."""

from __future__ import annotations

from typing import Any, Protocol


class HeldState(Protocol):
    """What an API keeps, unlocked: the API holds the emulator's lock around every use."""

    def snapshot(self) -> dict[str, Any]: ...

    def clear(self) -> None: ...

    def count(self) -> int: ...


class StatefulAPI:
    """``snapshot()``, ``reset()`` and ``resource_count()`` for an API whose ``state`` holds
    everything it keeps, each under the emulator's lock."""

    emulator: Any
    state: HeldState

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return self.state.snapshot()

    def reset(self) -> None:
        with self.emulator.lock:
            self.state.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            return self.state.count()
