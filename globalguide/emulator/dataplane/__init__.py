"""The emulator's live data plane: Cloud Run revisions as processes, load balancers as ports.

- :meth:`DataPlane.start_revision` runs a revision (:mod:`runner`) and gives its service a
  stable loopback URL that honours the ingress setting (:mod:`front`). When a revision is
  ready it takes all traffic and the older ones stop, as with Cloud Run's default of 100%
  of traffic to the latest ready revision.
- :meth:`DataPlane.sync_edges` gives every global forwarding rule its own loopback port,
  stable for the rule's life, where the geo-routing edge answers (:mod:`edge`). Edges read
  the load balancer's configuration through :attr:`DataPlane.config`, where a change takes
  effect after the profile's propagation delay (:mod:`propagation`).
- :meth:`DataPlane.set_failing` makes a region's revisions answer 503 (``globalguide drill``).
- :meth:`DataPlane.on_instance_running` runs a probe VM's requests from its zone's location
  and writes its serial output; deleting the VM stops it (:mod:`vm`).
- :meth:`DataPlane.stop_all` ends every process group and closes every port. It also runs
  at interpreter exit, and ``children.json`` in the state directory lists the process
  groups still alive so ``emulator stop`` can end them if the emulator itself was killed.

Locking: the data plane has its own lock and never calls into another API while holding
it, so an API may call the data plane while it holds the emulator's lock.
"""

from __future__ import annotations

import atexit
import itertools
import random
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from globalguide.emulator.dataplane.client import warm_up
from globalguide.emulator.dataplane.edge import PROPAGATION_S, Edge
from globalguide.emulator.dataplane.front import ServiceSlot
from globalguide.emulator.dataplane.outlier import OutlierConfig, OutlierDetector
from globalguide.emulator.dataplane.propagation import CONFIG_PROPAGATION_S, PropagatedConfig
from globalguide.emulator.dataplane.runner import (
    LocalProcessRunner,
    Revision,
    RevisionSpec,
    RevisionStatus,
    Runner,
)
from globalguide.emulator.dataplane.vm import VmProbes

if TYPE_CHECKING:
    from globalguide.emulator.compute import api as compute_api

__all__ = ["DataPlane", "Revision", "RevisionStatus"]

_LIVE: weakref.WeakSet[DataPlane] = weakref.WeakSet()


@atexit.register
def _stop_live_data_planes() -> None:
    for plane in list(_LIVE):
        plane.stop_all()


class DataPlane:
    def __init__(self, emulator: Any, runner: Runner | None = None) -> None:
        self.emulator = emulator
        config = emulator.config
        self._lock = threading.RLock()
        self._services: dict[str, ServiceSlot] = {}
        self._edges: dict[str, Edge] = {}
        self._detectors: dict[str, OutlierDetector] = {}
        self._seq = itertools.count(1)
        self._seed = int(getattr(config, "fault_seed", 0))
        self._warmed = False
        self._failing: set[str] = set()
        self.config = PropagatedConfig(lambda: self.compute, self._config_delay_s)
        self.runner: Runner = runner or LocalProcessRunner(
            state_dir=Path(config.state_dir),
            gemini_base_url=self._gemini_base_url,
            gemini_token=str(getattr(emulator, "revision_token", "")),
        )
        self.vm_probes = VmProbes(self._append_serial)
        _LIVE.add(self)

    # ------------------------------------------------------------------ revisions
    def start_revision(
        self,
        *,
        service: str,
        region: str,
        revision: str,
        image: Any,
        env: dict[str, str],
        ingress: str,
        template: dict[str, Any] | None = None,
    ) -> Revision:
        """Start a revision without waiting; its handle's status says when it is ready."""
        spec = RevisionSpec(service, region, revision, image, dict(env), ingress, template or {})
        with self._lock:
            slot = self._services.get(service)
            if slot is None:
                slot = ServiceSlot(service, region, ingress)
                self._services[service] = slot
            slot.ingress = ingress
            handle = Revision(spec, slot.uri, next(self._seq))
            slot.add(handle)
        self.runner.start(handle, self._on_ready)
        return handle

    def _on_ready(self, revision: Revision) -> None:
        with self._lock:
            slot = self._services.get(revision.spec.service)
            retired = slot.set_serving(revision) if slot is not None else [revision]
        self.runner.stop_later(retired)

    def remove_service(self, name: str) -> None:
        """The service is gone: close its URL and stop its revisions."""
        with self._lock:
            slot = self._services.pop(name, None)
        if slot is None:
            return
        slot.front.close()
        self.runner.stop_later(slot.all_revisions())

    def set_ingress(self, name: str, ingress: str) -> None:
        """A new ingress setting, effective for the next request (the next revision of a
        service without a running one brings its ingress with it)."""
        slot = self.slot(name)
        if slot is not None:
            slot.ingress = ingress

    def slot(self, service: str) -> ServiceSlot | None:
        with self._lock:
            return self._services.get(service)

    def _gemini_base_url(self, region: str) -> str:
        return f"{self.emulator.base_url}/_from/{region}/"

    # ---------------------------------------------------------------------- edges
    @property
    def compute(self) -> compute_api.API | None:
        """The compute API: where the load balancers' configuration and the VMs are."""
        return self.emulator.compute

    def sync_edges(self) -> None:
        """One listening edge per global forwarding rule; none for rules that are gone.
        Also the moment a configuration change is seen, from which it propagates."""
        compute = self.compute
        self.config.observe_all()
        rules = compute.list("forwardingRules") if compute is not None else []
        wanted = {
            r["selfLink"]: r for r in rules if "/global/forwardingRules/" in r.get("selfLink", "")
        }
        closing: list[Edge] = []
        with self._lock:
            for link in list(self._edges):
                if link not in wanted:
                    closing.append(self._edges.pop(link))
            for link, rule in wanted.items():
                if link not in self._edges:
                    self._edges[link] = Edge(rule, self, self._propagation_s())
            start_warm_up = bool(self._edges) and not self._warmed
            self._warmed = self._warmed or start_warm_up
        for edge in closing:
            edge.close()
        if start_warm_up:
            threading.Thread(target=warm_up, name="geo-warm-up", daemon=True).start()

    def edges(self) -> list[dict[str, Any]]:
        with self._lock:
            edges = list(self._edges.values())
        # Outside the lock: an edge's effective configuration reads the compute API.
        return [edge.to_dict() for edge in edges]

    def detector(self, backend: dict[str, Any]) -> OutlierDetector | None:
        """The outlier state of a backend service with outlierDetection, else None."""
        settings = backend.get("outlierDetection")
        if settings is None:
            return None
        config = OutlierConfig.from_rest(settings)
        link = str(backend.get("selfLink", ""))
        with self._lock:
            current = self._detectors.get(link)
            if current is None or current.config != config:
                current = OutlierDetector(config, random.Random(f"{self._seed}|{link}"))
                self._detectors[link] = current
            return current

    def failing(self, region: str) -> bool:
        with self._lock:
            return region in self._failing

    def set_failing(self, region: str, failing: bool) -> None:
        with self._lock:
            if failing:
                self._failing.add(region)
            else:
                self._failing.discard(region)

    def failing_regions(self) -> list[str]:
        with self._lock:
            return sorted(self._failing)

    def client_city(self) -> str:
        return str(self.emulator.config.client_city)

    def latency_modelled(self) -> bool:
        return self.emulator.config.latency == "model"

    def _propagation_s(self) -> float:
        config = self.emulator.config
        if config.profile != "realistic":
            return 0.0
        return PROPAGATION_S * float(config.time_scale)

    def _config_delay_s(self) -> float:
        config = self.emulator.config
        if config.profile != "realistic":
            return 0.0
        return CONFIG_PROPAGATION_S * float(config.time_scale)

    # ---------------------------------------------------------------------- probe VMs
    def on_instance_running(self, instance: dict[str, Any]) -> None:
        """A probe VM is up: run its probe from its zone's location (:mod:`vm`)."""
        self.vm_probes.on_running(instance)

    def on_instance_deleted(self, instance: dict[str, Any]) -> None:
        self.vm_probes.on_deleted(instance)

    def _append_serial(self, link: str, text: str) -> bool:
        compute = self.compute
        return bool(compute is not None and compute.append_serial_output(link, text))

    # ---------------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            slots = list(self._services.values())
            detectors = {link: d.snapshot() for link, d in self._detectors.items()}
        return {
            "services": [
                {
                    "name": slot.name,
                    "region": slot.region,
                    "uri": slot.uri,
                    "ingress": slot.ingress,
                    "serving": slot.serving.name if slot.serving else None,
                    "revisions": [r.to_dict() for r in slot.all_revisions()],
                }
                for slot in slots
            ],
            "edges": self.edges(),
            "outlierDetection": detectors,
            "failingRegions": self.failing_regions(),
            "pendingConfigChanges": self.config.pending(),
        }

    def stop_all(self) -> None:
        """Close every port and end every process group the data plane started."""
        with self._lock:
            slots = list(self._services.values())
            edges = list(self._edges.values())
            self._services.clear()
            self._edges.clear()
            self._detectors.clear()
            self._failing.clear()
        self.vm_probes.stop_all()
        for edge in edges:
            edge.close()
        for slot in slots:
            slot.front.close()
        self.runner.stop_everything()
