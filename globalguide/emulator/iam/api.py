"""IAM v1 service accounts over REST: create, get, list, delete.

Deleting an account leaves its project-policy bindings in place as
``deleted:serviceAccount:EMAIL?uid=ID`` members, as in the cloud.

Creation is eventually consistent: under the realistic profile a new account is not
visible for a propagation window. Meanwhile a get answers 404, a policy binding naming it
400 "does not exist", and Cloud Run refuses to run as it (403 on actAs): ``visible`` is
what the other emulated APIs ask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from globalguide.emulator.core.routing import Route, read_json
from globalguide.emulator.iam.accounts import Accounts, new_account

if TYPE_CHECKING:
    from globalguide.emulator.resourcemanager.api import API as ResourceManagerAPI

SERVICE = "iam.googleapis.com"


class API:
    name = "iam"
    # The APIs it calls, handed over by the server.
    resourcemanager: ResourceManagerAPI

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self._accounts = Accounts(emulator.project)

    # ------------------------------------------------------------ contract
    def routes(self) -> list[Route]:
        base = "/v1/projects/<project>/serviceAccounts"
        one = f"{base}/<account>"
        return [
            Route("POST", base, self.create, api=self.name, mutating=True,
                  endpoint="no-operation"),
            Route("GET", base, self.list, api=self.name),
            Route("GET", one, self.get, api=self.name),
            Route("DELETE", one, self.delete, api=self.name, mutating=True,
                  endpoint="no-operation"),
        ]  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        with self.emulator.lock:
            return {"serviceAccounts": self._accounts.rendered()}

    def reset(self) -> None:
        with self.emulator.lock:
            self._accounts.clear()

    def resource_count(self) -> int:
        with self.emulator.lock:
            return len(self._accounts)

    # ------------------------------------------------------------ for other APIs
    def exists(self, email: str) -> bool:
        """True while the account exists, whether or not its creation has propagated."""
        with self.emulator.lock:
            return self._accounts.exists(email)

    def visible(self, email: str) -> bool:
        """True once the account exists and its creation has propagated: the
        ``iam.serviceAccount`` window of the timing profile after create (none when
        instant, fixed when the account is created). Cloud Run's actAs check and policy
        bindings ask this, not ``exists``."""
        with self.emulator.lock:
            return self._accounts.visible(email)

    # ------------------------------------------------------------ handlers
    def _enter(self, project: str) -> None:
        self.emulator.enter(project, SERVICE)

    def create(self, request: Request, project: str) -> dict[str, Any]:
        self._enter(project)
        new = new_account(read_json(request))
        with self.emulator.lock:
            propagation = self.emulator.timing.propagation("iam.serviceAccount")
            return self._accounts.add(new, propagation=propagation)

    def list(self, request: Request, project: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            accounts = self._accounts.rendered()
        return {"accounts": accounts} if accounts else {}

    def get(self, request: Request, project: str, account: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            return dict(self._accounts.find(project, account, propagated=True))

    def delete(self, request: Request, project: str, account: str) -> dict[str, Any]:
        self._enter(project)
        with self.emulator.lock:
            found = self._accounts.find(project, account)
            self._accounts.remove(found["email"])
            self.resourcemanager.account_deleted(found["email"], found["uniqueId"])
        return {}
