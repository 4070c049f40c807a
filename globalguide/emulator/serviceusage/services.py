"""Which services the project has enabled, and whether a service is usable yet.

Enabling is eventually consistent: Service Usage reports the service ENABLED as soon as
the operation is done, but under the realistic profile the service itself still answers
SERVICE_DISABLED for a propagation window (the error's own text says "If you enabled this
API recently, wait a few minutes for the action to propagate to our systems and retry.").
"""

from __future__ import annotations

import time
from typing import Any

from globalguide.emulator.core.project import project_number
from globalguide.emulator.serviceusage.catalog import ENABLED_BY_DEFAULT, SERVICE_TITLES
from globalguide.emulator.serviceusage.errors import ServiceDisabled, UnknownServices


def check_known(services: list[str]) -> None:
    """403 naming the services that do not exist."""
    unknown = [s for s in services if s not in SERVICE_TITLES]
    if unknown:
        raise UnknownServices(unknown)


class ProjectServices:
    """The services of the emulator's one project. Callers hold the emulator's lock."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.number = project_number(project_id)
        self._enabled: set[str] = set(ENABLED_BY_DEFAULT)
        self._visible_at: dict[str, float] = {}  # service -> when its enable has propagated

    def reset(self) -> None:
        self._enabled = set(ENABLED_BY_DEFAULT)
        self._visible_at.clear()

    def enabled(self) -> list[str]:
        return sorted(self._enabled)

    def is_enabled(self, service: str) -> bool:
        return service in self._enabled

    def require_enabled(self, service: str) -> None:
        """Raise the real 403 SERVICE_DISABLED when ``service`` is not enabled, or was
        enabled so recently that the change has not propagated yet."""
        if service in self._enabled and time.time() >= self._visible_at.get(service, 0.0):
            return
        raise ServiceDisabled(service, self.number)

    def turn_on(self, services: list[str], *, propagation: float) -> None:
        """The effect of an enable: the services that were off are on from now, and usable
        ``propagation`` seconds later (the window of the profile in force when it completed:
        a later change of profile does not hide what had already propagated)."""
        visible_at = time.time() + propagation
        for service in services:
            if service not in self._enabled:
                self._enabled.add(service)
                self._visible_at[service] = visible_at

    def turn_off(self, service: str) -> None:
        self._enabled.discard(service)
        self._visible_at.pop(service, None)

    def set_enabled(self, services: list[str], enabled: bool) -> None:
        """Enable or disable at once, usable at once."""
        if enabled:
            self._enabled.update(services)
        else:
            self._enabled.difference_update(services)
        for service in services:
            self._visible_at.pop(service, None)

    def render(self, service: str, *, full: bool = False) -> dict[str, Any]:
        """The ``Service`` resource; ``full`` adds the config a get answers with."""
        state = "ENABLED" if service in self._enabled else "DISABLED"
        config: dict[str, Any] = {"name": service, "title": SERVICE_TITLES.get(service, service)}
        if full:
            config["documentation"] = {"summary": f"{config['title']}."}
            config["usage"] = {
                "requirements": ["serviceusage.googleapis.com/tos/cloud"],
            }
        return {
            "name": f"projects/{self.number}/services/{service}",
            "config": config,
            "state": state,
            "parent": f"projects/{self.number}",
        }

    def listed(self, states: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every known service in one of ``states``, by name."""
        return [
            self.render(s)
            for s in sorted(SERVICE_TITLES)
            if ("ENABLED" if s in self._enabled else "DISABLED") in states
        ]
