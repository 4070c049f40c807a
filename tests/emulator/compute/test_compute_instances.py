"""Instances (probe VMs) and zonal operations in the compute twin."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from tests.emulator.compute.test_compute import LINK, P

ZONE = "europe-west1-b"
IMAGE = "projects/debian-cloud/global/images/family/debian-12"


def instance(name: str = "probe", zone: str = ZONE, **fields) -> compute_v1.Instance:
    values = {
        "name": name,
        "machine_type": f"zones/{zone}/machineTypes/e2-micro",
        "disks": [
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(source_image=IMAGE),
            )
        ],
        "network_interfaces": [
            compute_v1.NetworkInterface(access_configs=[compute_v1.AccessConfig(name="nat")])
        ],
        "metadata": compute_v1.Metadata(
            items=[compute_v1.Items(key="startup-script", value="#!/bin/sh\necho probe\n")]
        ),
        "labels": {"globalguide": "probe"},
    }
    values.update(fields)
    return compute_v1.Instance(**values)


def create(c, zone: str = ZONE, **fields):
    return c.instances.insert(project=P, zone=zone, instance_resource=instance(zone=zone, **fields))


def serial(c, **args):
    request = {"project": P, "zone": ZONE, "instance": "probe", **args}
    return c.instances.get_serial_port_output(request=request)


def bad(call, *args, **kwargs) -> gexc.BadRequest:
    with pytest.raises(gexc.BadRequest) as info:
        call(*args, **kwargs)
    return info.value


def test_insert_get_list_aggregated_delete(enabled, emu):
    c = enabled
    op = create(c)
    op.result(timeout=30)
    assert op.zone == f"{LINK}/zones/{ZONE}"
    got = c.instances.get(project=P, zone=ZONE, instance="probe")
    assert got.status == "RUNNING"
    assert got.machine_type == f"{LINK}/zones/{ZONE}/machineTypes/e2-micro"
    assert got.zone == f"{LINK}/zones/{ZONE}"
    assert got.self_link == f"{LINK}/zones/{ZONE}/instances/probe"
    assert got.metadata.items[0].key == "startup-script"
    assert got.metadata.items[0].value.startswith("#!/bin/sh")
    assert got.disks[0].boot and got.network_interfaces[0].network.endswith("/networks/default")
    assert got.labels["globalguide"] == "probe" and got.last_start_timestamp
    create(c, zone="us-central1-a", name="other").result(timeout=30)
    assert [i.name for i in c.instances.list(project=P, zone=ZONE)] == ["probe"]
    scopes = {
        scope: [i.name for i in listing.instances]
        for scope, listing in c.instances.aggregated_list(request={"project": P})
    }
    assert scopes == {f"zones/{ZONE}": ["probe"], "zones/us-central1-a": ["other"]}
    c.instances.delete(project=P, zone=ZONE, instance="probe").result(timeout=30)
    with pytest.raises(gexc.NotFound):
        c.instances.get(project=P, zone=ZONE, instance="probe")
    assert emu.compute.append_serial_output(got.self_link, "late") is False


def test_zone_must_exist(enabled):
    err = bad(create, enabled, zone="europe-west1-z")
    assert err.message.endswith("Invalid value for field 'zone': 'europe-west1-z'. Unknown zone.")


@pytest.mark.parametrize(
    ("machine_type", "words"),
    [
        (f"zones/{ZONE}/machineTypes/e2-mega", "Machine type with name 'e2-mega' does not exist"),
        ("zones/us-central1-a/machineTypes/e2-micro", f"does not exist in zone '{ZONE}'"),
        ("e2-micro", "The URL is malformed."),
        ("", "Required field 'resource.machineType' not specified"),
    ],
)
def test_machine_type(enabled, machine_type, words):
    err = bad(create, enabled, machine_type=machine_type)
    assert words in err.message


def test_instance_needs_a_disk(enabled):
    err = bad(create, enabled, disks=[])
    assert err.message.endswith(
        "Invalid value for field 'resource.disks': ''. No disks are specified."
    )


def test_duplicate_instance_is_409(enabled):
    create(enabled).result(timeout=30)
    with pytest.raises(gexc.Conflict):
        create(enabled)


def test_set_labels(enabled):
    create(enabled).result(timeout=30)
    got = enabled.instances.get(project=P, zone=ZONE, instance="probe")
    enabled.instances.set_labels(
        project=P,
        zone=ZONE,
        instance="probe",
        instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
            labels={"globalguide": "done"}, label_fingerprint=got.label_fingerprint
        ),
    ).result(timeout=30)
    assert enabled.instances.get(project=P, zone=ZONE, instance="probe").labels == {
        "globalguide": "done"
    }
    with pytest.raises(gexc.PreconditionFailed):
        enabled.instances.set_labels(
            project=P,
            zone=ZONE,
            instance="probe",
            instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
                labels={}, label_fingerprint=got.label_fingerprint
            ),
        )


def test_serial_port_output_start_and_next(enabled, emu):
    create(enabled).result(timeout=30)
    link = f"{LINK}/zones/{ZONE}/instances/probe"
    compute = emu.compute
    assert compute.append_serial_output(link, "boot\n")
    first = serial(enabled)
    assert (first.contents, first.start, first.next_) == ("boot\n", 0, 5)
    compute.append_serial_output(link, 'PROBE {"ms": 12}\n')
    more = serial(enabled, start=first.next_)
    assert more.contents == 'PROBE {"ms": 12}\n' and more.start == 5
    tail = serial(enabled, start=-3)
    assert tail.contents == "2}\n"
    other = serial(enabled, port=2)
    assert other.contents == ""
    err = bad(serial, enabled, port=5)
    assert "'port'" in err.message


def test_serial_port_keeps_the_last_mebibyte(enabled, emu):
    create(enabled).result(timeout=30)
    link = f"{LINK}/zones/{ZONE}/instances/probe"
    emu.compute.append_serial_output(link, "a" * (1024 * 1024) + "tail")
    out = serial(enabled, start=0)
    assert out.start == 4  # the first 4 bytes were discarded; start moves up to the oldest kept
    assert out.contents.endswith("tail") and out.next_ == 1024 * 1024 + 4


def test_running_instance_is_handed_to_the_data_plane(enabled, emu, monkeypatch):
    seen = []
    monkeypatch.setattr(emu.dataplane, "on_instance_running", seen.append, raising=False)
    create(enabled).result(timeout=30)
    assert [i["name"] for i in seen] == ["probe"]
    assert seen[0]["status"] == "RUNNING"
    assert seen[0]["metadata"]["items"][0]["key"] == "startup-script"


def test_zonal_operations_get_and_wait(enabled):
    op = enabled.instances.insert_unary(project=P, zone=ZONE, instance_resource=instance())
    assert op.self_link == f"{LINK}/zones/{ZONE}/operations/{op.name}"
    got = enabled.zone_operations.get(project=P, zone=ZONE, operation=op.name)
    assert got.status == compute_v1.Operation.Status.DONE
    waited = enabled.zone_operations.wait(project=P, zone=ZONE, operation=op.name)
    assert waited.target_link == f"{LINK}/zones/{ZONE}/instances/probe"
