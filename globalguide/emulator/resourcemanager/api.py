"""Cloud Resource Manager v3 over REST: the project's IAM policy, read-modify-write with an
etag. ``getIamPolicy`` returns the policy and its etag; ``setIamPolicy`` replaces the whole
policy under the rules of :mod:`project_policy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.routing import Route, read_json
from globalguide.emulator.resourcemanager.project_policy import (
    ProjectPolicy,
    checked_policy,
    requested_version,
)

if TYPE_CHECKING:
    from globalguide.emulator.iam.api import API as IamAPI

SERVICE = "cloudresourcemanager.googleapis.com"


class API:
    name = "resourcemanager"
    # The APIs it calls, handed over by the server.
    iam: IamAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._policy = ProjectPolicy(emulator.project)

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        one = "/v3/projects/<project>"
        return [
            Route("POST", f"{one}:getIamPolicy", self.get_iam_policy, api=self.name),
            Route("POST", f"{one}:setIamPolicy", self.set_iam_policy, api=self.name,
                  mutating=True, endpoint="no-operation"),
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {"policy": self._policy.render(3)}

    def reset(self) -> None:
        """A new project's policy: its owner, and the Google-managed default accounts."""
        with self.emulator.lock:
            self._policy.reset()

    def resource_count(self) -> int:
        """Bindings beyond the project's initial ones (what a deployment added)."""
        with self.emulator.lock:
            return self._policy.added_count()

    # ------------------------------------------------------------ for other APIs
    def account_deleted(self, email: str, unique_id: str) -> None:
        with self.emulator.lock:
            self._policy.account_deleted(email, unique_id)

    def roles_of(self, member: str) -> set[str]:
        """The unconditional project roles bound to ``member``."""
        with self.emulator.lock:
            return self._policy.roles_of(member)

    # ------------------------------------------------------------ handlers
    def get_iam_policy(self, request: Request, project: str) -> dict[str, Any]:
        self.emulator.enter(project, SERVICE)
        requested = requested_version(read_json(request).get("options") or {})
        with self.emulator.lock:
            return self._policy.render(requested)

    def set_iam_policy(self, request: Request, project: str) -> dict[str, Any]:
        self.emulator.enter(project, SERVICE)
        policy = read_json(request).get("policy")
        version, bindings = checked_policy(policy, self.emulator.project, self.iam.visible)
        with self.emulator.lock:
            self._policy.replace(version, bindings, policy.get("etag"))
            return self._policy.render(3)
