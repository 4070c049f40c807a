"""Cloud Build v1 through cloudbuild_v1: from a Storage tarball into the image store and AR."""

from __future__ import annotations

import time

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import artifactregistry_v1 as ar
from google.cloud.devtools import cloudbuild_v1 as cb

from globalguide.cloud.source import make_context, service_dir
from globalguide.emulator.session import bearer
from tests.emulator.fakes import running_emulator, simple_context, tarball

BUILDER = "gcr.io/cloud-builders/docker"
Status = cb.Build.Status
Failure = cb.Build.FailureInfo.FailureType


def _setup(clients, project, *, repo: str | None = "images", context: bytes | None = None) -> str:
    """A bucket holding ``context`` (and a DOCKER repository); returns the object name."""
    bucket = clients.storage.create_bucket(f"{project}_cloudbuild")
    bucket.blob("source/ctx.tgz").upload_from_string(
        context or simple_context(), "application/gzip"
    )
    if repo:
        clients.artifact_registry.create_repository(
            parent=f"projects/{project}/locations/us-central1",
            repository_id=repo,
            repository=ar.Repository(format_=ar.Repository.Format.DOCKER),
        ).result(timeout=30)
    return "source/ctx.tgz"


def _build(project: str, image: str, *, steps=None, images=None, obj="source/ctx.tgz") -> cb.Build:
    return cb.Build(
        source=cb.Source(
            storage_source=cb.StorageSource(bucket=f"{project}_cloudbuild", object_=obj)
        ),
        steps=steps or [cb.BuildStep(name=BUILDER, args=["build", "-t", image, "."])],
        images=[image] if images is None else images,
    )


def _image(project: str, tag: str = "v1", repo: str = "images") -> str:
    return f"us-central1-docker.pkg.dev/{project}/{repo}/local-guide:{tag}"


def test_the_service_directory_builds_into_a_runnable_image(enabled, emu, project):
    context = make_context(service_dir())
    _setup(enabled, project, context=context.data)
    image_uri = _image(project, context.tag)
    op = enabled.cloud_build.create_build(project_id=project, build=_build(project, image_uri))
    assert op.operation.name.startswith(f"operations/build/{project}/")
    assert op.metadata.build.status in (Status.QUEUED, Status.WORKING)
    build = op.result(timeout=60)

    assert build.status == Status.SUCCESS
    assert build.log_url.startswith("https://console.cloud.google.com/cloud-build/builds/")
    assert build.create_time and build.start_time and build.finish_time
    assert [i.name for i in build.results.images] == [image_uri]
    digest = build.results.images[0].digest
    assert digest.startswith("sha256:")
    assert emu.artifactregistry.resolve(image_uri) == digest

    image = emu.images.get(digest)
    assert image.cmd == ["python", "-m", "service"]
    assert image.workdir == "/app"
    assert image.user == "10001"
    assert image.env["PORT"] == "8080"
    assert (image.root / "app" / "service" / "app.py").is_file()
    assert image.base.startswith("python:3.12-slim@sha256:")  # pinned by digest
    assert any("pip install" in run for run in image.runs)

    fetched = enabled.cloud_build.get_build(project_id=project, id=build.id)
    assert fetched.status == Status.SUCCESS
    assert fetched.source.storage_source.object_ == "source/ctx.tgz"
    assert fetched.steps[0].status == Status.SUCCESS

    again = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, image_uri)
    ).result(timeout=60)
    assert again.results.images[0].digest == digest  # content-addressed


def test_a_missing_source_is_refused_at_create(enabled, project):
    with pytest.raises(gexc.BadRequest, match="The specified bucket does not exist"):
        enabled.cloud_build.create_build(project_id=project, build=_build(project, _image(project)))
    _setup(enabled, project, repo=None)
    with pytest.raises(gexc.BadRequest, match="No such object"):
        enabled.cloud_build.create_build(
            project_id=project, build=_build(project, _image(project), obj="source/nope.tgz")
        )


def test_a_source_that_is_not_a_tarball_fails_the_build(enabled, project):
    _setup(enabled, project, context=b"plain text, not gzip")
    op = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project))
    )
    with pytest.raises(gexc.GoogleAPICallError, match="Build failed; check build logs for details"):
        op.result(timeout=30)
    build = enabled.cloud_build.get_build(project_id=project, id=op.metadata.build.id)
    assert build.status == Status.FAILURE
    assert build.failure_info.type_ == Failure.FETCH_SOURCE_FAILED
    assert "gzipped tarball" in build.status_detail


def test_pushing_to_a_missing_repository_fails_the_build(enabled, project):
    _setup(enabled, project, repo=None)
    op = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project))
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    build = enabled.cloud_build.get_build(project_id=project, id=op.metadata.build.id)
    assert build.status == Status.FAILURE
    assert build.failure_info.type_ == Failure.PUSH_FAILED
    assert build.status_detail == 'name unknown: Repository "images" not found'


def test_a_bad_dockerfile_fails_the_step(enabled, project):
    context = tarball({"Dockerfile": b'FROM python:3.12\nSHELL ["/bin/bash", "-c"]\nCMD x\n'})
    _setup(enabled, project, context=context)
    op = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project))
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    build = enabled.cloud_build.get_build(project_id=project, id=op.metadata.build.id)
    assert build.failure_info.type_ == Failure.USER_BUILD_STEP
    assert build.status_detail.startswith(
        f'Build step failure: build step 0 "{BUILDER}" failed: step exited with non-zero status: 1'
    )
    assert "SHELL is not supported" in build.status_detail
    assert build.steps[0].status == Status.FAILURE


def test_unsupported_steps_and_unbuilt_images_fail(enabled, project):
    _setup(enabled, project)
    gcloud = cb.BuildStep(
        name="gcr.io/google.com/cloudsdktool/cloud-sdk", args=["gcloud", "version"]
    )
    op = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project), steps=[gcloud], images=[])
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    assert "is not a docker build or push" in op.metadata.build.status_detail

    op = enabled.cloud_build.create_build(
        project_id=project,
        build=_build(
            project,
            _image(project, "built"),
            images=[_image(project, "built"), _image(project, "never-built")],
        ),
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    assert op.metadata.build.failure_info.type_ == Failure.PUSH_IMAGE_NOT_FOUND


def test_regional_build_with_a_push_step_and_a_subdirectory_context(enabled, emu, project):
    context = tarball(
        {
            "app/Dockerfile": b'FROM scratch\nCOPY main.py /main.py\nCMD ["python", "/main.py"]\n',
            "app/main.py": b"print('hi')\n",
        }
    )
    _setup(enabled, project, context=context)
    uri = _image(project, "sub")
    steps = [
        cb.BuildStep(name=BUILDER, args=["build", "--tag", uri, "-f", "app/Dockerfile", "app"]),
        cb.BuildStep(name=BUILDER, args=["push", uri]),
    ]
    build = _build(project, uri, steps=steps, images=[])
    parent = f"projects/{project}/locations/us-central1"
    op = enabled.cloud_build.create_build(request=cb.CreateBuildRequest(parent=parent, build=build))
    assert op.operation.name.startswith(f"{parent}/operations/")
    result = op.result(timeout=30)
    assert result.status == Status.SUCCESS
    assert (
        result.name
        == f"projects/{result.name.split('/')[1]}/locations/us-central1/builds/{result.id}"
    )
    digest = emu.artifactregistry.resolve(uri)
    assert (emu.images.get(digest).root / "main.py").read_text() == "print('hi')\n"
    fetched = enabled.cloud_build.get_build(
        request=cb.GetBuildRequest(name=f"{parent}/builds/{result.id}")
    )
    assert fetched.id == result.id


def test_builds_are_listed_newest_first_and_filtered(enabled, project):
    _setup(enabled, project)
    first = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project, "a"))
    ).result(timeout=30)
    second = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project, "b"))
    ).result(timeout=30)
    listed = [b.id for b in enabled.cloud_build.list_builds(project_id=project, filter="")]
    assert listed[:2] == [second.id, first.id]
    only = list(enabled.cloud_build.list_builds(project_id=project, filter=f'id="{first.id}"'))
    assert [b.id for b in only] == [first.id]
    with pytest.raises(gexc.BadRequest):
        list(enabled.cloud_build.list_builds(project_id=project, filter="nonsense"))


def test_request_shape_is_checked(enabled, emu, project):
    _setup(enabled, project)
    response = requests.post(
        f"{emu.base_url}/v1/projects/{project}/builds",
        headers=bearer(emu.base_url),
        json={"steps": [{"name": BUILDER, "args": ["build", "."]}], "colour": "red"},
        timeout=5,
    )
    assert response.status_code == 400
    assert 'Unknown name "colour"' in response.json()["error"]["message"]
    with pytest.raises(gexc.BadRequest, match="at least one step"):
        enabled.cloud_build.create_build(project_id=project, build=cb.Build())
    with pytest.raises(gexc.BadRequest, match="invalid image name"):
        enabled.cloud_build.create_build(
            project_id=project, build=_build(project, "Not A Valid/Name")
        )
    with pytest.raises(gexc.NotFound):
        enabled.cloud_build.get_build(project_id=project, id="no-such-build")


def test_the_api_must_be_enabled(emu, clients, project):
    with pytest.raises(gexc.Forbidden, match="Cloud Build API has not been used"):
        clients.cloud_build.create_build(project_id=project, build=cb.Build())


def test_status_moves_over_the_operations_time(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=0.02) as (emu, clients):
        project = emu.project
        _setup(clients, project)
        op = clients.cloud_build.create_build(
            project_id=project, build=_build(project, _image(project))
        )
        build_id = op.metadata.build.id
        seen = set()
        deadline = time.time() + 20
        while not op.done() and time.time() < deadline:
            seen.add(clients.cloud_build.get_build(project_id=project, id=build_id).status)
            time.sleep(0.05)
        assert op.result(timeout=10).status == Status.SUCCESS
        assert Status.WORKING in seen
        assert seen <= {Status.QUEUED, Status.WORKING, Status.SUCCESS}


def test_a_running_build_can_be_cancelled(tmp_path):
    with running_emulator(tmp_path, profile="realistic", time_scale=0.2) as (emu, clients):
        project = emu.project
        _setup(clients, project)
        op = clients.cloud_build.create_build(
            project_id=project, build=_build(project, _image(project))
        )
        build_id = op.metadata.build.id
        cancelled = clients.cloud_build.cancel_build(project_id=project, id=build_id)
        assert cancelled.status == Status.CANCELLED
        with pytest.raises(gexc.GoogleAPICallError):
            op.result(timeout=10)
        assert clients.cloud_build.get_build(project_id=project, id=build_id).status == (
            Status.CANCELLED
        )
        assert emu.artifactregistry.resolve(_image(project)) is None


def test_faults_fail_builds(tmp_path):
    with running_emulator(tmp_path, fault_rate=1.0, fault_seed=5) as (emu, clients):
        outcomes = set()
        for _ in range(6):
            try:
                op = clients.cloud_build.create_build(
                    project_id=emu.project,
                    build=cb.Build(steps=[cb.BuildStep(name=BUILDER, args=["build", "."])]),
                    retry=None,
                )
            except gexc.GoogleAPICallError as exc:
                outcomes.add(exc.code)
                continue
            with pytest.raises(gexc.GoogleAPICallError, match="transient"):
                op.result(timeout=10)
            status = clients.cloud_build.get_build(
                project_id=emu.project, id=op.metadata.build.id
            ).status
            assert status == Status.INTERNAL_ERROR
            outcomes.add("operation")
        assert outcomes == {429, 503, "operation"}  # seed 5 draws each kind


# ------------------------------------------------------------ the build's own identity


def _account(clients, project, account_id: str = "builder-sa") -> str:
    from google.cloud import service_usage_v1

    clients.service_usage.batch_enable_services(
        service_usage_v1.BatchEnableServicesRequest(
            parent=f"projects/{project}",
            service_ids=["iam.googleapis.com", "cloudresourcemanager.googleapis.com"],
        )
    ).result(timeout=30)
    try:
        clients.service_accounts.create(project, account_id, display_name="", description="")
    except gexc.Conflict:
        pass
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def _as(build: cb.Build, project: str, email: str, *, logging=True) -> cb.Build:
    build.service_account = f"projects/{project}/serviceAccounts/{email}"
    if logging:
        build.options = cb.BuildOptions(logging=cb.BuildOptions.LoggingMode.CLOUD_LOGGING_ONLY)
    return build


def test_a_service_account_needs_a_logging_choice(enabled, project):
    _setup(enabled, project)
    email = _account(enabled, project)
    build = _as(_build(project, _image(project)), project, email, logging=False)
    with pytest.raises(gexc.BadRequest) as caught:
        enabled.cloud_build.create_build(project_id=project, build=build)
    assert "if 'build.service_account' is specified, the build must either" in str(caught.value)
    for mode in (cb.BuildOptions.LoggingMode.LEGACY, cb.BuildOptions.LoggingMode.GCS_ONLY):
        build.options = cb.BuildOptions(logging=mode)
        with pytest.raises(gexc.BadRequest):
            enabled.cloud_build.create_build(project_id=project, build=build)


def test_a_service_account_is_a_full_resource_name_of_an_existing_account(enabled, project):
    _setup(enabled, project)
    email = _account(enabled, project)
    build = _as(_build(project, _image(project)), project, email)
    build.service_account = email  # the bare email: refused
    with pytest.raises(gexc.BadRequest, match="projects/"):
        enabled.cloud_build.create_build(project_id=project, build=build)
    missing = f"nobody-here@{project}.iam.gserviceaccount.com"
    build = _as(_build(project, _image(project)), project, missing)
    with pytest.raises(gexc.BadRequest, match="does not exist"):
        enabled.cloud_build.create_build(project_id=project, build=build)


def test_an_account_without_read_on_the_source_fails_the_fetch(enabled, project):
    _setup(enabled, project)
    email = _account(enabled, project)
    op = enabled.cloud_build.create_build(
        project_id=project, build=_as(_build(project, _image(project)), project, email)
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    build = op.metadata.build
    assert build.status == Status.FAILURE
    assert build.failure_info.type_ == Failure.FETCH_SOURCE_FAILED
    assert f"{email} does not have storage.objects.get access" in build.status_detail
    assert build.service_account == f"projects/{project}/serviceAccounts/{email}"


def _grant_bucket(clients, bucket_name: str, member: str, role: str) -> None:
    bucket = clients.storage.bucket(bucket_name)
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.bindings.append({"role": role, "members": {member}})
    bucket.set_iam_policy(policy)


def _grant_repo(clients, path: str, member: str, role: str) -> None:
    policy = clients.artifact_registry.get_iam_policy(request={"resource": path})
    policy.bindings.add(role=role, members=[member])
    clients.artifact_registry.set_iam_policy(request={"resource": path, "policy": policy})


def test_resource_grants_let_the_account_read_and_push(enabled, project):
    _setup(enabled, project)
    email = _account(enabled, project)
    member = f"serviceAccount:{email}"
    _grant_bucket(enabled, f"{project}_cloudbuild", member, "roles/storage.objectViewer")
    op = enabled.cloud_build.create_build(
        project_id=project, build=_as(_build(project, _image(project)), project, email)
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    build = op.metadata.build
    assert build.failure_info.type_ == Failure.PUSH_FAILED
    assert 'Permission "artifactregistry.repositories.uploadArtifacts" denied' in (
        build.status_detail
    )

    repo = f"projects/{project}/locations/us-central1/repositories/images"
    _grant_repo(enabled, repo, member, "roles/artifactregistry.reader")  # reading is not writing
    op = enabled.cloud_build.create_build(
        project_id=project, build=_as(_build(project, _image(project)), project, email)
    )
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=30)
    _grant_repo(enabled, repo, member, "roles/artifactregistry.writer")
    op = enabled.cloud_build.create_build(
        project_id=project, build=_as(_build(project, _image(project)), project, email)
    )
    assert op.result(timeout=30).status == Status.SUCCESS


def test_a_failed_build_ends_its_operation_in_error_with_the_build_in_metadata(enabled, project):
    context = tarball({"Dockerfile": b"FROM python:3.12-slim@sha256:nothex\nCMD x\n"})
    _setup(enabled, project, context=context)
    op = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project))
    )
    with pytest.raises(gexc.Unknown, match="Build failed; check build logs for details"):
        op.result(timeout=30)
    build = op.metadata.build
    assert build.status == Status.FAILURE
    assert "invalid reference format" in build.failure_info.detail
    assert build.log_url.endswith(f"{build.id}?project={build.name.split('/')[1]}")


def test_from_accepts_a_digest_pinned_base(enabled, project):
    digest = "sha256:" + "0123abcd" * 8
    context = tarball({"Dockerfile": f"FROM python:3.12-slim@{digest}\nCMD x\n".encode()})
    _setup(enabled, project, context=context)
    op = enabled.cloud_build.create_build(
        project_id=project, build=_build(project, _image(project))
    )
    assert op.result(timeout=30).status == Status.SUCCESS
