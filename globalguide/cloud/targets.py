"""The two places a command can talk to, Google Cloud and the emulator, and everything that
differs between them: how long to wait and how often to ask, how the load balancer's URL and
routing are read, how a region is made to fail for a drill, what the user is told.

:attr:`CloudClients.target <globalguide.cloud.clients.CloudClients.target>` makes the one
that fits the clients; the rest of the code base reads its attributes and never asks which
of the two it is. The emulator's test controls (``/_emulator/...``) are used from here only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from globalguide.cloud.names import Names
from globalguide.errors import CloudError
from globalguide.wire import guide_request

if TYPE_CHECKING:
    from globalguide.cloud.clients import CloudClients
    from globalguide.spec import DeploySpec

CONTROL_TIMEOUT_S = 5.0


class Target:
    """What a command needs to know about where it runs; see the two below."""

    def __init__(self, clients: CloudClients) -> None:
        self.clients = clients

    kind: str  # the ``target`` of every --json document
    local_flag: str  # what a command in a hint adds to reach the same target
    # True when a request can say where its client is, so any region can be asked as if
    # from its own city; else only a probe VM near it can (`--verify-regions`, `--via vm`).
    places_clients: bool
    lb_wait_s: float  # deploy: until the load balancer answers 200
    lb_poll_max_s: float
    verify_s: float  # deploy: until every region serves
    verify_poll_max_s: float
    drain_s: float  # a removed region: until the load balancer stops routing to it
    drain_poll_s: float
    drill_phase_s: float  # each phase of a drill
    probe_vm_request_timeout_s: float
    probe_vm_wait_s: float  # for a probe VM's complete report
    probe_vm_poll_s: float
    probe_vm_cleanup_s: float
    vm_operation_timeout_s: float
    vm_sweep_pause_s: float


class GoogleCloud(Target):
    """A real project: the load balancer is found by its address, a client's place is where
    the request comes from, and changes take minutes to propagate."""

    kind = "google-cloud"
    local_flag = ""
    places_clients = False
    lb_wait_s = 900.0
    lb_poll_max_s = 5.0
    verify_s = 900.0
    verify_poll_max_s = 10.0
    # Google gives no API that says a backend-service change has reached every front end;
    # the public runbooks for multi-region Cloud Run wait for it before removing an old NEG,
    # and propagation takes "several minutes" (gcp-facts §7).
    drain_s = 300.0
    drain_poll_s = 15.0
    drill_phase_s = 900.0
    probe_vm_request_timeout_s = guide_request.TIMEOUT_S
    probe_vm_wait_s = 600.0
    probe_vm_poll_s = 3.0
    probe_vm_cleanup_s = 300.0
    vm_operation_timeout_s = 180.0
    vm_sweep_pause_s = 5.0

    @property
    def display_name(self) -> str:
        return f"project {self.clients.project}"

    @property
    def plan_key(self) -> str:
        """Which target a saved plan was made for."""
        return f"google-cloud/{self.clients.project}"

    def load_balancer_url(self, spec: DeploySpec) -> str | None:
        names = Names(spec.name, spec.project)
        try:
            address = self.clients.global_addresses.get(project=spec.project, address=names.address)
        except gexc.NotFound:
            return None
        if spec.domain:
            return f"https://{spec.domain}"
        return f"http://{address.address}"

    def edge(self, spec: DeploySpec) -> dict[str, Any] | None:
        """The load balancer's effective configuration: not readable on Google Cloud."""
        return None

    def routed_regions(self, spec: DeploySpec) -> set[str] | None:
        """The regions the load balancer routes to now; None: it cannot be seen."""
        return None

    def drilled_regions(self) -> list[str]:
        """Regions failing for a drill by the target's own means (a drill on Google Cloud is
        a tagged revision, shown with the service)."""
        return []

    def region_failure(self, spec: DeploySpec, region: str) -> Any:
        """What makes ``region`` fail for a drill and restores it: a revision answering 503."""
        from globalguide.cloud.drill import CloudRunFailure

        return CloudRunFailure(self.clients, spec, region)


class Emulator(Target):
    """The local twin: its edge is read through a test control, a request names its client's
    city in a header, and operations take the profile's (short) time."""

    kind = "emulator"
    local_flag = " --local"
    places_clients = True
    lb_wait_s = 120.0
    lb_poll_max_s = 0.5
    verify_s = 120.0
    verify_poll_max_s = 1.0
    drain_s = 600.0  # at most: the edge says when the regions have left
    drain_poll_s = 0.2
    drill_phase_s = 120.0
    probe_vm_request_timeout_s = 10.0
    probe_vm_wait_s = 60.0
    probe_vm_poll_s = 0.2
    probe_vm_cleanup_s = 30.0
    vm_operation_timeout_s = 30.0
    vm_sweep_pause_s = 1.0

    @property
    def display_name(self) -> str:
        return "the emulator"

    @property
    def plan_key(self) -> str:
        return "emulator"

    def control(self, name: str, body: dict | None = None) -> Any:
        """GET (or POST ``body`` to) the test control ``/_emulator/NAME``; None if unreachable."""
        from globalguide.emulator.session import control_request

        request = control_request(
            self.clients.endpoint, name, token=self.clients.token, body=body,
            method="GET" if body is None else "POST",
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT_S) as resp:  # noqa: S310
                return json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def edge(self, spec: DeploySpec) -> dict[str, Any] | None:
        """The edge of the deployment's HTTP rule, with its effective configuration."""
        names = Names(spec.name, spec.project)
        for edge in self.control("edges") or []:
            if str(edge.get("forwardingRule", "")).endswith(f"/forwardingRules/{names.http_rule}"):
                return edge
        return None

    def load_balancer_url(self, spec: DeploySpec) -> str | None:
        edge = self.edge(spec)
        return None if edge is None else str(edge["url"])

    def routed_regions(self, spec: DeploySpec) -> set[str] | None:
        edge = self.edge(spec)
        return set() if edge is None else set(edge.get("regions") or [])

    def drilled_regions(self) -> list[str]:
        return list((self.control("drill") or {}).get("failingRegions") or [])

    def region_failure(self, spec: DeploySpec, region: str) -> Any:
        """The region's revisions answer 503 (the test control ``/_emulator/drill``)."""
        return _DrillControl(self, region)


class _DrillControl:
    def __init__(self, emulator: Emulator, region: str) -> None:
        self.emulator, self.region = emulator, region

    def fail(self) -> None:
        if self.emulator.control("drill", {"region": self.region}) is None:
            raise CloudError("The emulator did not accept the drill.", hint="Is it running?")

    def restore(self) -> None:
        body = {"region": self.region, "failing": False}
        if self.emulator.control("drill", body) is None:
            raise CloudError(
                f"Could not restore {self.region} in the emulator.",
                hint="Restart it: `globalguide emulator stop` then deploy again.",
            )
