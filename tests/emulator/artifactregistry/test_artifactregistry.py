"""Artifact Registry v1 through artifactregistry_v1."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import artifactregistry_v1 as ar

from globalguide.emulator.artifactregistry.image_uri import parse_image_uri
from globalguide.emulator.session import bearer
from tests.emulator.fakes import running_emulator

DOCKER = ar.Repository.Format.DOCKER
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def _parent(project: str, location: str = "us-central1") -> str:
    return f"projects/{project}/locations/{location}"


def _create(clients, project, repo_id="images", location="us-central1", **fields):
    op = clients.artifact_registry.create_repository(
        parent=_parent(project, location),
        repository_id=repo_id,
        repository=ar.Repository(format_=fields.pop("format_", DOCKER), **fields),
    )
    return op.result(timeout=10)


def test_repository_lifecycle(enabled, project):
    repo = _create(enabled, project, description="service images", labels={"globalguide": "demo"})
    name = f"{_parent(project)}/repositories/images"
    assert repo.name == name
    assert repo.format_ == DOCKER
    assert repo.mode == ar.Repository.Mode.STANDARD_REPOSITORY
    assert repo.registry_uri == f"us-central1-docker.pkg.dev/{project}/images"

    fetched = enabled.artifact_registry.get_repository(name=name)
    assert fetched.description == "service images"
    assert fetched.create_time
    assert [
        r.name for r in enabled.artifact_registry.list_repositories(parent=_parent(project))
    ] == [name]

    updated = enabled.artifact_registry.update_repository(
        repository=ar.Repository(name=name, labels={"globalguide": "other"}),
        update_mask={"paths": ["labels"]},
    )
    assert updated.labels == {"globalguide": "other"}
    assert updated.description == "service images"

    enabled.artifact_registry.delete_repository(name=name).result(timeout=10)
    with pytest.raises(gexc.NotFound):
        enabled.artifact_registry.get_repository(name=name)


def test_creating_an_existing_repository_is_a_conflict(enabled, project):
    _create(enabled, project)
    with pytest.raises(gexc.Conflict, match="the repository already exists"):
        _create(enabled, project)


@pytest.mark.parametrize(
    "repo_id", ["Images", "1images", "images-", "im_ages", "a" * 64, "im.ages"]
)
def test_invalid_repository_ids(enabled, project, repo_id):
    with pytest.raises(gexc.BadRequest, match="Invalid repository id"):
        _create(enabled, project, repo_id=repo_id)


def test_repository_id_edges(enabled, project):
    for repo_id in ("a", "a" * 63, "a-1"):
        _create(enabled, project, repo_id=repo_id)


def test_format_location_and_fields_are_checked(enabled, emu, project):
    with pytest.raises(gexc.BadRequest, match="format must be specified"):
        _create(enabled, project, format_=ar.Repository.Format.FORMAT_UNSPECIFIED)
    with pytest.raises(gexc.BadRequest, match="Invalid location"):
        _create(enabled, project, location="mars-north1")
    with pytest.raises(gexc.BadRequest, match="Invalid labels"):
        _create(enabled, project, labels={"Upper": "x"})
    response = requests.post(
        f"{emu.base_url}/v1/{_parent(project)}/repositories?repositoryId=x",
        headers=bearer(emu.base_url),
        json={"format": "DOCKER", "colour": "blue"},
        timeout=5,
    )
    assert response.status_code == 400
    assert 'Unknown name "colour"' in response.json()["error"]["message"]


def test_missing_repository_is_not_found(enabled, project):
    name = f"{_parent(project)}/repositories/nope"
    with pytest.raises(gexc.NotFound, match="Requested entity was not found."):
        enabled.artifact_registry.get_repository(name=name)
    with pytest.raises(gexc.NotFound):
        enabled.artifact_registry.delete_repository(name=name)


def test_recorded_images_are_listed_and_resolved(enabled, emu, project):
    _create(enabled, project)
    repo = f"{_parent(project)}/repositories/images"
    registry = emu.artifactregistry
    assert registry.record_image(repo, "local-guide", "v1", DIGEST_A, 1234)
    assert registry.record_image(repo, "local-guide", "latest", DIGEST_A)
    assert registry.record_image(repo, "local-guide", "v2", DIGEST_B, 99)
    assert not registry.record_image(f"{_parent(project)}/repositories/missing", "x", "v", DIGEST_A)

    base = f"us-central1-docker.pkg.dev/{project}/images/local-guide"
    assert registry.resolve(f"{base}:v1") == DIGEST_A
    assert registry.resolve(base) == DIGEST_A  # :latest
    assert registry.resolve(f"{base}:v2") == DIGEST_B
    assert registry.resolve(f"{base}@{DIGEST_B}") == DIGEST_B
    assert registry.resolve(f"{base}:v3") is None
    assert registry.resolve(f"{base}@sha256:{'c' * 64}") is None
    assert registry.resolve("us-central1-docker.pkg.dev/other/images/local-guide:v1") is None
    assert registry.resolve(f"europe-west1-docker.pkg.dev/{project}/images/local-guide:v1") is None
    assert registry.resolve("gcr.io/cloudrun/hello") is None

    images = list(enabled.artifact_registry.list_docker_images(parent=repo))
    assert {(i.uri, tuple(i.tags)) for i in images} == {
        (f"{base}@{DIGEST_A}", ("latest", "v1")),
        (f"{base}@{DIGEST_B}", ("v2",)),
    }
    image = enabled.artifact_registry.get_docker_image(
        name=f"{repo}/dockerImages/local-guide@{DIGEST_A}"
    )
    assert image.image_size_bytes == 1234

    package = f"{repo}/packages/local-guide"
    assert [p.name for p in enabled.artifact_registry.list_packages(parent=repo)] == [package]
    assert enabled.artifact_registry.get_package(name=package).name == package
    versions = enabled.artifact_registry.list_versions(
        request=ar.ListVersionsRequest(parent=package, view=ar.VersionView.FULL)
    )
    assert {v.name: sorted(t.name.rsplit("/", 1)[1] for t in v.related_tags) for v in versions} == {
        f"{package}/versions/{DIGEST_A}": ["latest", "v1"],
        f"{package}/versions/{DIGEST_B}": ["v2"],
    }
    tag = enabled.artifact_registry.get_tag(name=f"{package}/tags/v2")
    assert tag.version == f"{package}/versions/{DIGEST_B}"
    assert len(list(enabled.artifact_registry.list_tags(parent=package))) == 3


def test_images_can_be_deleted_by_tag_version_and_package(enabled, emu, project):
    _create(enabled, project)
    repo = f"{_parent(project)}/repositories/images"
    registry = emu.artifactregistry
    registry.record_image(repo, "app", "v1", DIGEST_A)
    registry.record_image(repo, "app", "v2", DIGEST_B)
    package = f"{repo}/packages/app"
    base = f"us-central1-docker.pkg.dev/{project}/images/app"

    enabled.artifact_registry.delete_tag(name=f"{package}/tags/v2")
    assert registry.resolve(f"{base}:v2") is None
    with pytest.raises(gexc.NotFound):
        enabled.artifact_registry.get_tag(name=f"{package}/tags/v2")

    with pytest.raises(gexc.BadRequest, match="has tags"):
        enabled.artifact_registry.delete_version(name=f"{package}/versions/{DIGEST_A}")
    enabled.artifact_registry.delete_version(
        request=ar.DeleteVersionRequest(name=f"{package}/versions/{DIGEST_A}", force=True)
    ).result(timeout=10)
    assert registry.resolve(f"{base}:v1") is None

    enabled.artifact_registry.delete_package(name=package).result(timeout=10)
    with pytest.raises(gexc.NotFound):
        enabled.artifact_registry.get_package(name=package)
    assert emu.artifactregistry.resource_count() == 1


def test_package_names_with_slashes(enabled, emu, project):
    _create(enabled, project)
    repo = f"{_parent(project)}/repositories/images"
    emu.artifactregistry.record_image(repo, "team/app", "v1", DIGEST_A)
    package = f"{repo}/packages/team%2Fapp"
    assert enabled.artifact_registry.get_package(name=package).name == package
    assert enabled.artifact_registry.get_tag(name=f"{package}/tags/v1").name.endswith("/tags/v1")
    image = enabled.artifact_registry.get_docker_image(
        name=f"{repo}/dockerImages/team%2Fapp@{DIGEST_A}"
    )
    assert image.uri == f"us-central1-docker.pkg.dev/{project}/images/team/app@{DIGEST_A}"


def test_deleting_a_repository_deletes_its_images(enabled, emu, project):
    _create(enabled, project)
    repo = f"{_parent(project)}/repositories/images"
    emu.artifactregistry.record_image(repo, "app", "v1", DIGEST_A)
    assert emu.artifactregistry.resource_count() == 2
    enabled.artifact_registry.delete_repository(name=repo).result(timeout=10)
    assert (
        emu.artifactregistry.resolve(f"us-central1-docker.pkg.dev/{project}/images/app:v1") is None
    )
    assert emu.artifactregistry.resource_count() == 0
    _create(enabled, project)
    assert list(enabled.artifact_registry.list_docker_images(parent=repo)) == []


def test_non_docker_repositories_do_not_resolve(enabled, emu, project):
    _create(enabled, project, repo_id="pypi", format_=ar.Repository.Format.PYTHON)
    repo = f"{_parent(project)}/repositories/pypi"
    emu.artifactregistry.record_image(repo, "app", "v1", DIGEST_A)
    assert emu.artifactregistry.resolve(f"us-central1-docker.pkg.dev/{project}/pypi/app:v1") is None


def test_image_uris_are_parsed():
    ref = parse_image_uri("europe-west1-docker.pkg.dev/p/r/team/app:1.0")
    assert (ref.location, ref.project, ref.repository, ref.image, ref.tag, ref.digest) == (
        "europe-west1",
        "p",
        "r",
        "team/app",
        "1.0",
        None,
    )
    assert ref.repository_name == "projects/p/locations/europe-west1/repositories/r"
    assert parse_image_uri(f"us-docker.pkg.dev/p/r/app@{DIGEST_A}").digest == DIGEST_A
    assert parse_image_uri("docker.io/library/python:3.12") is None
    assert parse_image_uri("us-docker.pkg.dev/p/r") is None


def test_the_api_must_be_enabled(emu, clients, project):
    with pytest.raises(gexc.Forbidden, match="Artifact Registry API has not been used"):
        _create(clients, project)


def test_creating_takes_time_under_the_realistic_profile(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=0.02) as (emu, clients):
        op = clients.artifact_registry.create_repository(
            parent=_parent(emu.project),
            repository_id="slow",
            repository=ar.Repository(format_=DOCKER),
        )
        assert not op.done()
        name = f"{_parent(emu.project)}/repositories/slow"
        with pytest.raises(gexc.NotFound):
            clients.artifact_registry.get_repository(name=name)
        with pytest.raises(gexc.Conflict):
            clients.artifact_registry.create_repository(
                parent=_parent(emu.project),
                repository_id="slow",
                repository=ar.Repository(format_=DOCKER),
            )
        assert op.result(timeout=10).name == name
        assert clients.artifact_registry.get_repository(name=name).name == name


def test_faults_fail_repository_creation(tmp_path):
    with running_emulator(tmp_path, fault_rate=1.0, fault_seed=11) as (emu, clients):
        for attempt in range(3):
            with pytest.raises(gexc.GoogleAPICallError):
                clients.artifact_registry.create_repository(
                    parent=_parent(emu.project),
                    repository_id="flaky",
                    repository=ar.Repository(format_=DOCKER),
                    retry=None,
                ).result(timeout=10)
        assert emu.artifactregistry.resource_count() == 0
        kinds = {f["kind"] for f in emu.faults.injected}
        assert kinds <= {"429", "503", "operation"}


def test_repository_iam_policy_has_an_etag_and_checks_members(enabled, project):
    from google.cloud import artifactregistry_v1 as ar_v1

    path = f"projects/{project}/locations/us-central1/repositories/iam-repo"
    enabled.artifact_registry.create_repository(
        parent=f"projects/{project}/locations/us-central1",
        repository_id="iam-repo",
        repository=ar_v1.Repository(format_=ar_v1.Repository.Format.DOCKER),
    ).result(timeout=30)
    policy = enabled.artifact_registry.get_iam_policy(request={"resource": path})
    assert not policy.bindings
    stale = enabled.artifact_registry.get_iam_policy(request={"resource": path})
    policy.bindings.add(role="roles/artifactregistry.writer", members=["user:a@b.c"])
    enabled.artifact_registry.set_iam_policy(request={"resource": path, "policy": policy})
    stale.bindings.add(role="roles/artifactregistry.reader", members=["user:x@b.c"])
    with pytest.raises(gexc.Conflict):
        enabled.artifact_registry.set_iam_policy(request={"resource": path, "policy": stale})
    with pytest.raises(gexc.NotFound):
        enabled.artifact_registry.get_iam_policy(request={"resource": path + "-missing"})
