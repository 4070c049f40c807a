"""Instances (the probe VMs): zones, machine types, defaults, and serial port output.

An instance is readable as soon as its insert is accepted: PROVISIONING for the first half
of the operation's time, then STAGING, and RUNNING when the operation completes, as the real
API shows it. Serial port output is a per-instance buffer the data plane writes into; reads
follow the API's ``start``/``next`` contract, keeping the last 1 MiB
(compute_v1 GetSerialPortOutputInstanceRequest.start docstring).
"""

from __future__ import annotations

import re
from typing import Any

from globalguide.emulator.compute import links
from globalguide.emulator.compute.backend import OUTPUT_ONLY
from globalguide.emulator.compute.errors import invalid_value, malformed, required
from globalguide.emulator.compute.state import fingerprint, label_fingerprint
from globalguide.emulator.compute.validate import check_labels

SERIAL_BUFFER_BYTES = 1024 * 1024
SERIAL_PORTS = (1, 2, 3, 4)


def _sizes(family: str, sizes: tuple[int, ...]) -> set[str]:
    return {f"{family}-{n}" for n in sizes}


# Predefined machine types (https://cloud.google.com/compute/docs/machine-resource).
MACHINE_TYPES = frozenset(
    {"e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small"}
    | _sizes("e2-standard", (2, 4, 8, 16, 32))
    | _sizes("e2-highmem", (2, 4, 8, 16))
    | _sizes("e2-highcpu", (2, 4, 8, 16, 32))
    | _sizes("n1-standard", (1, 2, 4, 8, 16, 32, 64, 96))
    | _sizes("n2-standard", (2, 4, 8, 16, 32, 48, 64, 80, 96, 128))
    | _sizes("n2d-standard", (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224))
    | _sizes("t2d-standard", (1, 2, 4, 8, 16, 32, 48, 60))
    | _sizes("c3-standard", (4, 8, 22, 44, 88, 176))
)

# Used only when globalguide.geo is not available.
_FALLBACK_ZONES = {
    "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
    "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
    "asia-northeast1": ("asia-northeast1-a", "asia-northeast1-b", "asia-northeast1-c"),
}
# compute_v1 Items.key: "[a-zA-Z0-9-_]+, and be less than 128 bytes"; Items.value: "less
# than or equal to 262144 bytes (256 KiB)"; Metadata.items: "The total size of all keys and
# values must be less than 512 KB".
_METADATA_KEY = re.compile(r"[a-zA-Z0-9_-]{1,127}\Z")
MAX_METADATA_VALUE_BYTES = 262_144
MAX_METADATA_TOTAL_BYTES = 512 * 1024


def zone_regions() -> dict[str, str]:
    """Every known zone and its region."""
    try:
        from globalguide.geo import REGIONS
    except ImportError:
        table = _FALLBACK_ZONES
    else:
        table = {name: region.zones for name, region in REGIONS.items()}
    return {zone: region for region, zones in table.items() for zone in zones}


def known_regions() -> set[str]:
    return set(zone_regions().values())


def check_zone(zone: str) -> str:
    """The zone's region; 400 "Unknown zone." as the API answers (gcloud error text)."""
    region = zone_regions().get(zone)
    if region is None:
        raise invalid_value("zone", zone, "Unknown zone.")
    return region


def check_region(region: str) -> str:
    if region not in known_regions():
        raise invalid_value("region", region, "Unknown region.")
    return region


def machine_type_link(raw: Any, zone: str, project: str) -> str:
    if not raw:
        raise required("resource.machineType")
    ref = links.parse(raw, project=project)
    if ref is None or ref.collection != "machineTypes" or ref.scope is None:
        raise malformed("resource.machineType", raw)
    if ref.scope[0] != "zones" or ref.name not in MACHINE_TYPES or ref.scope[1] != zone:
        # The wording gcloud's instance creation matches on.
        raise invalid_value(
            "resource.machineType",
            raw,
            f"Machine type with name '{ref.name}' does not exist in zone '{zone}'.",
        )
    return f"{links.BASE}/projects/{project}/zones/{zone}/machineTypes/{ref.name}"


def build_instance(
    body: dict[str, Any], base: dict[str, Any], zone: str, project: str
) -> dict[str, Any]:
    machine_type = machine_type_link(body.get("machineType"), zone, project)
    disks = body.get("disks") or []
    if not disks:
        raise invalid_value("resource.disks", "", "No disks are specified.")
    labels = check_labels(body.get("labels"))
    metadata = _metadata(body.get("metadata"))
    out = {**base, **{k: v for k, v in body.items() if k not in OUTPUT_ONLY and k != "name"}}
    out.update(
        machineType=machine_type,
        status="PROVISIONING",
        zone=links.scope_link(project, ("zones", zone)),
        canIpForward=bool(body.get("canIpForward", False)),
        disks=[_disk(d, i, base["name"], zone, project) for i, d in enumerate(disks)],
        networkInterfaces=[
            _nic(n, i, project) for i, n in enumerate(body.get("networkInterfaces") or [])
        ],
        metadata=metadata,
        labelFingerprint=label_fingerprint(labels),
        scheduling={
            "onHostMaintenance": "MIGRATE",
            "automaticRestart": True,
            "preemptible": False,
            "provisioningModel": "STANDARD",
            **(body.get("scheduling") or {}),
        },
        tags={**(body.get("tags") or {}), "fingerprint": fingerprint(body.get("tags") or {})},
        deletionProtection=bool(body.get("deletionProtection", False)),
        startRestricted=False,
    )
    out.pop("labels", None)
    if labels:
        out["labels"] = labels
    return out


def _metadata(raw: Any) -> dict[str, Any]:
    items = list((raw or {}).get("items") or [])
    seen: set[str] = set()
    total = 0
    for index, item in enumerate(items):
        key = item.get("key", "")
        if not _METADATA_KEY.match(key):
            raise invalid_value(
                f"resource.metadata.items[{index}].key",
                key,
                "Metadata keys may contain letters, digits, '-' and '_', less than 128 bytes.",
            )
        if key in seen:
            raise invalid_value("resource.metadata", key, f"Duplicate metadata key '{key}'.")
        seen.add(key)
        value = item.get("value") or ""
        size = len(value.encode())
        if size > MAX_METADATA_VALUE_BYTES:
            raise invalid_value(
                f"resource.metadata.items[{index}].value",
                key,
                f"Metadata values can be at most {MAX_METADATA_VALUE_BYTES} bytes; this one "
                f"is {size}.",
            )
        total += len(key.encode()) + size
    if total >= MAX_METADATA_TOTAL_BYTES:
        raise invalid_value(
            "resource.metadata",
            "",
            f"The total size of all metadata keys and values must be less than "
            f"{MAX_METADATA_TOTAL_BYTES} bytes; it is {total}.",
        )
    out: dict[str, Any] = {"kind": "compute#metadata", "fingerprint": fingerprint({"i": items})}
    if items:
        out["items"] = items
    return out


def _disk(disk: dict[str, Any], index: int, name: str, zone: str, project: str) -> dict[str, Any]:
    disk_name = (disk.get("initializeParams") or {}).get("diskName") or (
        name if index == 0 else f"{name}-{index}"
    )
    out = {
        "kind": "compute#attachedDisk",
        "type": "PERSISTENT",
        "mode": "READ_WRITE",
        "interface": "SCSI",
        "autoDelete": False,
        "boot": index == 0,
        "deviceName": disk.get("deviceName") or disk_name,
        **{k: v for k, v in disk.items() if k != "initializeParams"},
        "index": index,
        "source": disk.get("source")
        or f"{links.BASE}/projects/{project}/zones/{zone}/disks/{disk_name}",
    }
    return out


def _nic(nic: dict[str, Any], index: int, project: str) -> dict[str, Any]:
    network = nic.get("network") or "global/networks/default"
    ref = links.parse(network, project=project, collection="networks")
    if ref is None:
        raise malformed(f"resource.networkInterfaces[{index}].network", network)
    out = {
        "kind": "compute#networkInterface",
        **nic,
        "name": f"nic{index}",
        "network": ref.link,
        "networkIP": f"10.128.0.{index + 2}",
    }
    if nic.get("accessConfigs"):
        out["accessConfigs"] = [
            {
                "kind": "compute#accessConfig",
                "type": "ONE_TO_ONE_NAT",
                "name": "External NAT",
                "networkTier": "PREMIUM",
                **config,
                "natIP": "127.0.0.1",
            }
            for config in nic["accessConfigs"]
        ]
    return out


class SerialBuffer:
    """One serial port's output: the last 1 MiB, addressed by absolute byte position."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._base = 0  # absolute position of _data[0]

    @property
    def end(self) -> int:
        return self._base + len(self._data)

    def append(self, text: str | bytes) -> None:
        self._data += text.encode() if isinstance(text, str) else text
        overflow = len(self._data) - SERIAL_BUFFER_BYTES
        if overflow > 0:
            del self._data[:overflow]
            self._base += overflow

    def read(self, start: int | None) -> tuple[str, int, int]:
        """(contents, start actually used, next): a negative start counts back from the end;
        a start before the oldest byte kept moves up to it."""
        if start is None:
            start = 0
        if start < 0:
            start = self.end + start
        start = min(max(start, self._base), self.end)
        contents = bytes(self._data[start - self._base :]).decode("utf-8", errors="replace")
        return contents, start, self.end
