"""The Cloud Storage JSON API through google-cloud-storage."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
from google.api_core import exceptions as gexc

from globalguide.emulator.core.project import project_number
from globalguide.emulator.session import bearer
from globalguide.emulator.storage import objects as storage_objects
from tests.emulator.fakes import running_emulator


def test_bucket_lifecycle(emu, clients, project):
    gcs = clients.storage
    bucket = gcs.bucket("gg-build-sources")
    bucket.labels = {"globalguide": "demo"}
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    created = gcs.create_bucket(bucket, location="us-central1")
    assert created.name == "gg-build-sources"
    assert created.location == "US-CENTRAL1"
    assert created.location_type == "region"
    assert created.storage_class == "STANDARD"
    assert created.project_number == int(project_number(project))
    assert created.iam_configuration.uniform_bucket_level_access_enabled

    fetched = gcs.get_bucket("gg-build-sources")
    assert fetched.labels == {"globalguide": "demo"}
    assert [b.name for b in gcs.list_buckets()] == ["gg-build-sources"]

    fetched.labels = {"globalguide": "demo", "team": "guides"}
    fetched.patch()
    assert gcs.get_bucket("gg-build-sources").labels == {"globalguide": "demo", "team": "guides"}
    assert gcs.get_bucket("gg-build-sources").metageneration == 2

    fetched.delete()
    with pytest.raises(gexc.NotFound, match="The specified bucket does not exist."):
        gcs.get_bucket("gg-build-sources")


def test_creating_a_bucket_twice_is_a_conflict(emu, clients):
    clients.storage.create_bucket("gg-twice")
    with pytest.raises(gexc.Conflict) as info:
        clients.storage.create_bucket("gg-twice")
    assert "Your previous request to create the named bucket succeeded and you already own it." in (
        info.value.message
    )
    body = requests.post(
        f"{emu.base_url}/storage/v1/b?project={emu.project}",
        headers=bearer(emu.base_url),
        json={"name": "gg-twice"},
        timeout=5,
    ).json()
    assert body["error"]["errors"][0]["reason"] == "conflict"


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper-case",
        "-leading-dash",
        "trailing-dash-",
        "has space",
        "goog-bucket",
        "my-google-bucket",
        "my-g00gle-bucket",
        "192.168.5.4",
        "under$core",
    ],
)
def test_invalid_bucket_names_are_refused(emu, name):
    # Raw requests: the client library pre-checks some of these rules itself.
    response = requests.post(
        f"{emu.base_url}/storage/v1/b?project={emu.project}",
        headers=bearer(emu.base_url),
        json={"name": name},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"Invalid bucket name: '{name}'"
    assert response.json()["error"]["errors"][0]["reason"] == "invalid"


def test_the_client_sees_invalid_names_as_bad_requests(emu, clients):
    with pytest.raises(gexc.BadRequest, match="Invalid bucket name"):
        clients.storage.create_bucket("my-google-bucket")


def test_dotted_names_need_domain_verification(emu, clients):
    with pytest.raises(gexc.Forbidden, match="domain ownership verification"):
        clients.storage.create_bucket("guides.example.com")


def test_valid_names_at_the_edges(emu, clients):
    for name in ("abc", "a" * 63, "a_b-c9"):
        clients.storage.create_bucket(name)


def test_bucket_needs_a_project_and_a_valid_location(emu, clients):
    missing = requests.post(
        f"{emu.base_url}/storage/v1/b",
        headers=bearer(emu.base_url),
        json={"name": "gg-x"},
        timeout=5,
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["errors"][0]["reason"] == "required"
    with pytest.raises(gexc.BadRequest, match="location constraint is not valid"):
        clients.storage.create_bucket("gg-somewhere", location="moon-central1")


def test_objects_round_trip(emu, clients):
    gcs = clients.storage
    bucket = gcs.create_bucket("gg-objects")
    data = b"\x1f\x8b" + bytes(range(256)) * 40
    blob = bucket.blob("source/1700000000.123-abc.tgz")
    blob.upload_from_string(data, content_type="application/gzip")
    assert blob.exists()
    fetched = bucket.get_blob("source/1700000000.123-abc.tgz")
    assert fetched.size == len(data)
    assert fetched.content_type == "application/gzip"
    assert fetched.md5_hash == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert fetched.crc32c == storage_objects.crc32c_b64(data)
    assert fetched.download_as_bytes() == data
    assert bucket.blob("source/1700000000.123-abc.tgz").download_as_bytes() == data
    assert fetched.download_as_bytes(start=2, end=5) == data[2:6]

    bucket.blob("source/b.tgz").upload_from_string(b"b")
    bucket.blob("top.txt").upload_from_string(b"t")
    assert [b.name for b in gcs.list_blobs("gg-objects", prefix="source/")] == [
        "source/1700000000.123-abc.tgz",
        "source/b.tgz",
    ]
    listing = gcs.list_blobs("gg-objects", delimiter="/")
    assert [b.name for b in listing] == ["top.txt"]
    assert listing.prefixes == {"source/"}

    fetched.delete()
    assert not bucket.blob("source/1700000000.123-abc.tgz").exists()
    with pytest.raises(gexc.NotFound):
        bucket.blob("source/1700000000.123-abc.tgz").download_as_bytes()


def test_names_with_unusual_characters(emu, clients):
    bucket = clients.storage.create_bucket("gg-names")
    name = "dir with space/ünïcode?#%.txt"
    bucket.blob(name).upload_from_string(b"x")
    assert [b.name for b in clients.storage.list_blobs("gg-names")] == [name]
    assert bucket.blob(name).download_as_bytes() == b"x"


def test_resumable_upload_in_chunks(emu, clients):
    bucket = clients.storage.create_bucket("gg-resumable")
    data = bytes(range(256)) * 3000  # 768000 bytes: three 256 KiB chunks
    blob = bucket.blob("big.bin", chunk_size=256 * 1024)
    blob.upload_from_string(data)
    assert bucket.get_blob("big.bin").size == len(data)
    assert bucket.blob("big.bin").download_as_bytes() == data


def test_a_bucket_that_holds_objects_cannot_be_deleted(emu, clients):
    bucket = clients.storage.create_bucket("gg-full")
    bucket.blob("a").upload_from_string(b"a")
    with pytest.raises(gexc.Conflict, match="The bucket you tried to delete is not empty."):
        bucket.delete()
    bucket.blob("a").delete()
    bucket.delete()


def test_generation_preconditions(emu, clients):
    bucket = clients.storage.create_bucket("gg-preconditions")
    blob = bucket.blob("once")
    blob.upload_from_string(b"1", if_generation_match=0)
    with pytest.raises(gexc.PreconditionFailed):
        bucket.blob("once").upload_from_string(b"2", if_generation_match=0)
    assert bucket.blob("once").download_as_bytes() == b"1"


def test_checksum_mismatch_is_refused(emu, clients):
    clients.storage.create_bucket("gg-checksums")
    boundary = "==boundary=="
    body = (
        f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n"
        '{"name": "x", "crc32c": "AAAAAA=="}\r\n'
        f"--{boundary}\r\ncontent-type: text/plain\r\n\r\nhello\r\n--{boundary}--"
    ).encode()
    response = requests.post(
        f"{emu.base_url}/upload/storage/v1/b/gg-checksums/o?uploadType=multipart",
        data=body,
        headers={
            **bearer(emu.base_url),
            "Content-Type": f'multipart/related; boundary="{boundary}"',
        },
        timeout=5,
    )
    assert response.status_code == 400
    assert "doesn't match calculated CRC32C" in response.json()["error"]["message"]


def test_objects_are_bounded(emu, clients, monkeypatch):
    monkeypatch.setattr(storage_objects, "MAX_OBJECT_BYTES", 1024)
    bucket = clients.storage.create_bucket("gg-bounded")
    with pytest.raises(gexc.GoogleAPICallError) as info:
        bucket.blob("big").upload_from_string(b"x" * 2048)
    assert info.value.code == 413
    assert not bucket.blob("big").exists()


def test_missing_bucket_and_object(emu, clients):
    with pytest.raises(gexc.NotFound):
        clients.storage.bucket("gg-nowhere").blob("x").upload_from_string(b"x")
    bucket = clients.storage.create_bucket("gg-empty")
    response = requests.get(
        f"{emu.base_url}/storage/v1/b/gg-empty/o/missing", headers=bearer(emu.base_url), timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such object: gg-empty/missing"
    assert bucket.get_blob("missing") is None


def test_faults_fail_bucket_creation(tmp_path):
    with running_emulator(tmp_path, fault_rate=1.0) as (emu, clients):
        with pytest.raises(gexc.GoogleAPICallError) as info:
            clients.storage.create_bucket("gg-faulty", retry=None)
        assert info.value.code in (429, 503)
        assert emu.storage.resource_count() == 0


def _foreign(endpoint: str, *names: str) -> None:
    response = requests.post(
        f"{endpoint}/_emulator/storage/foreign",
        headers=bearer(endpoint),
        json={"names": list(names)},
        timeout=5,
    )
    assert response.status_code == 200


def test_a_bucket_of_another_project_is_403_and_its_name_not_available(emu, endpoint, clients):
    _foreign(endpoint, "someone-elses-bucket")
    with pytest.raises(gexc.Forbidden, match="storage.buckets.get"):
        clients.storage.get_bucket("someone-elses-bucket")
    with pytest.raises(gexc.Forbidden):
        list(clients.storage.list_blobs("someone-elses-bucket"))
    with pytest.raises(gexc.Conflict, match="bucket name is not available"):
        clients.storage.create_bucket("someone-elses-bucket")
    assert clients.storage.lookup_bucket("no-such-bucket-anywhere") is None  # still 404


def test_bucket_iam_policy_is_read_modify_write_with_an_etag(emu, clients, project):
    bucket = clients.storage.create_bucket("iam-policy-bucket")
    policy = bucket.get_iam_policy(requested_policy_version=3)
    roles = {b["role"] for b in policy.bindings}
    assert "roles/storage.legacyBucketOwner" in roles
    stale = bucket.get_iam_policy(requested_policy_version=3)
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {"user:a@b.c"}})
    bucket.set_iam_policy(policy)
    again = bucket.get_iam_policy(requested_policy_version=3)
    assert any(
        b["role"] == "roles/storage.objectViewer" and "user:a@b.c" in b["members"]
        for b in again.bindings
    )
    stale.bindings.append({"role": "roles/storage.objectViewer", "members": {"user:x@b.c"}})
    with pytest.raises(gexc.PreconditionFailed):
        bucket.set_iam_policy(stale)
    missing = {f"serviceAccount:ghost-account@{project}.iam.gserviceaccount.com"}
    again.bindings.append({"role": "roles/storage.objectViewer", "members": missing})
    with pytest.raises(gexc.BadRequest, match="does not exist"):
        bucket.set_iam_policy(again)
