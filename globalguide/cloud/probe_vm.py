"""The probe VMs' cloud calls: create, read serial output, delete, and find leftovers.

Every probe VM of one ``globalguide probe`` run carries the labels ``globalguide=<name>``
and ``globalguide-probe=<run id>``, so the run can find and delete all of its VMs from
the cloud itself, including one whose insert was sent just before an interrupt.
"""

from __future__ import annotations

import time

from google.api_core import exceptions as gexc

from globalguide.cloud.clients import CloudClients
from globalguide.cloud.names import LABEL_KEY
from globalguide.errors import CloudError
from globalguide.wire.probe_serial import PROBE_LABEL

MACHINE_TYPE = "e2-micro"
IMAGE = "projects/debian-cloud/global/images/family/debian-12"


def _failure(what: str, exc: Exception) -> CloudError:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or type(exc).__name__
    hint = None
    if isinstance(exc, gexc.Forbidden):
        hint = "Probing with a VM needs compute.instanceAdmin on the project."
    return CloudError(f"{what} failed ({code}: {str(message)[:200]}).", hint=hint)


class ProbeVms:
    """The VMs of one probe run."""

    def __init__(self, clients: CloudClients, deployment: str, run_id: str) -> None:
        self.clients = clients
        self.project = clients.project
        self.labels = {LABEL_KEY: deployment, PROBE_LABEL: run_id}
        self.run_id = run_id
        self.op_timeout = clients.target.vm_operation_timeout_s

    def create(self, name: str, zone: str, startup_script: str) -> None:
        """Insert the VM and wait until the insert operation is done (bounded)."""
        from google.cloud import compute_v1

        instance = compute_v1.Instance(
            name=name,
            machine_type=f"zones/{zone}/machineTypes/{MACHINE_TYPE}",
            labels=self.labels,
            disks=[
                compute_v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=IMAGE),
                )
            ],
            network_interfaces=[
                compute_v1.NetworkInterface(
                    network="global/networks/default",
                    access_configs=[
                        compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")
                    ],
                )
            ],
            metadata=compute_v1.Metadata(
                items=[compute_v1.Items(key="startup-script", value=startup_script)]
            ),
            scheduling=compute_v1.Scheduling(automatic_restart=False),
        )
        try:
            op = self.clients.instances.insert(
                project=self.project, zone=zone, instance_resource=instance
            )
            op.result(timeout=self.op_timeout)
        except (gexc.GoogleAPICallError, TimeoutError, gexc.RetryError) as exc:
            raise _failure(f"Creating probe VM {name} in {zone}", exc) from None

    def serial(self, name: str, zone: str, start: int) -> tuple[str, int]:
        """Serial port 1 output from byte ``start``: (text, the next start)."""
        try:
            out = self.clients.instances.get_serial_port_output(
                request={"project": self.project, "zone": zone, "instance": name,
                         "port": 1, "start": start}
            )  # fmt: skip
        except gexc.GoogleAPICallError as exc:
            raise _failure(f"Reading the serial port of {name}", exc) from None
        return out.contents, int(out.next_ or start)

    def delete(self, name: str, zone: str) -> None:
        """Delete the VM and wait for it (bounded); a VM already gone is fine."""
        try:
            op = self.clients.instances.delete(project=self.project, zone=zone, instance=name)
            op.result(timeout=self.op_timeout)
        except gexc.NotFound:
            return
        except (gexc.GoogleAPICallError, TimeoutError, gexc.RetryError) as exc:
            raise _failure(f"Deleting probe VM {name}", exc) from None

    def left(self) -> list[tuple[str, str]]:
        """(zone, name) of every VM of this run still listed."""
        try:
            pages = self.clients.instances.aggregated_list(
                # The run's label is checked here: filter on the key without a hyphen.
                request={"project": self.project,
                         "filter": f"labels.{LABEL_KEY} = {self.labels[LABEL_KEY]}"}
            )  # fmt: skip
            found = []
            for scope, listing in pages:
                for instance in listing.instances:
                    if instance.labels.get(PROBE_LABEL) == self.run_id:
                        found.append((scope.rsplit("/", 1)[-1], instance.name))
            return found
        except gexc.GoogleAPICallError as exc:
            raise _failure("Listing the probe VMs", exc) from None

    def sweep(self, timeout: float) -> list[tuple[str, str]]:
        """Delete every VM of this run; what is still listed after ``timeout``."""
        deadline = time.monotonic() + timeout
        left = self.left()
        while left and time.monotonic() < deadline:
            for zone, name in left:
                try:
                    self.delete(name, zone)
                except CloudError:
                    pass
            left = self.left()
            if left:
                time.sleep(self.clients.target.vm_sweep_pause_s)
        return left
