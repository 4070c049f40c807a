"""The operations Cloud Run started, by location: the ones its operations methods know.

The operations themselves (timing, effect, wire shape) live in the emulator's shared
operation store; this keeps which of them belong to which location of this API.
"""

from __future__ import annotations

import uuid
from typing import Any

from globalguide.emulator.core.routing import ApiError


def operation_not_found(name: str) -> ApiError:
    return ApiError(404, f"Operation {name} not found.", status="NOT_FOUND")


class RunOperations:
    """Names of the operations Cloud Run started, each with its location."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._parents: dict[str, str] = {}  # operation name -> its location's name

    def _parent(self, location: str) -> str:
        return f"projects/{self.emulator.project}/locations/{location}"

    def new_name(self, location: str) -> str:
        parent = self._parent(location)
        name = f"{parent}/operations/{uuid.uuid4()}"
        with self.emulator.lock:
            self._parents[name] = parent
        return name

    def known(self, location: str, operation: str) -> str:
        """The full name of one of this API's operations; 404 for an unknown one."""
        name = f"{self._parent(location)}/operations/{operation}"
        if name not in self._parents:
            raise operation_not_found(name)
        return name

    def rendered_in(self, location: str) -> list[dict[str, Any]]:
        parent = self._parent(location)
        with self.emulator.lock:
            names = [n for n, p in self._parents.items() if p == parent]
        return [r for r in (self.emulator.operations.render(n) for n in names) if r]

    def forget(self, name: str) -> None:
        with self.emulator.lock:
            self._parents.pop(name, None)

    def clear(self) -> None:
        self._parents.clear()
