"""The build log in a bucket of the project: Cloud Build writes ``log-<id>.txt`` under the
build's ``logsBucket`` when it finishes, and a build whose account cannot write there fails
before any step runs."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud.devtools import cloudbuild_v1 as cb

from tests.emulator.cloudbuild.test_builds import (
    BUILDER,
    _account,
    _as,
    _build,
    _grant_bucket,
    _grant_repo,
    _image,
    _setup,
)
from tests.emulator.fakes import tarball

Status = cb.Build.Status
Failure = cb.Build.FailureInfo.FailureType
GCS_ONLY = cb.BuildOptions.LoggingMode.GCS_ONLY
BROKEN = b"FROM python:3.12-slim\nWORKDIR /app\nRUN make all\nCMD python -m http.server\n"


def _logged(build: cb.Build, project: str, mode=GCS_ONLY) -> cb.Build:
    build.logs_bucket = f"gs://{project}_cloudbuild/logs"
    build.options = cb.BuildOptions(logging=mode)
    return build


def _log_text(clients, project: str, build_id: str) -> str | None:
    blob = clients.storage.bucket(f"{project}_cloudbuild").get_blob(f"logs/log-{build_id}.txt")
    return None if blob is None else blob.download_as_bytes().decode()


def _failed(clients, project: str, build: cb.Build) -> cb.Build:
    op = clients.cloud_build.create_build(project_id=project, build=build)
    with pytest.raises(gexc.GoogleAPICallError, match="Build failed"):
        op.result(timeout=60)
    return clients.cloud_build.get_build(project_id=project, id=op.metadata.build.id)


def test_a_failed_build_writes_its_log_with_the_failing_line(enabled, project):
    _setup(enabled, project, context=tarball({"Dockerfile": BROKEN}))
    build = _failed(enabled, project, _logged(_build(project, _image(project)), project))
    assert build.logs_bucket == f"gs://{project}_cloudbuild/logs"
    lines = _log_text(enabled, project, build.id).splitlines()
    assert lines[0] == f'starting build "{build.id}"'
    assert "FETCHSOURCE" in lines and "BUILD" in lines and "Starting Step #0" in lines
    assert lines[lines.index("BUILD") - 1].startswith(
        f"Fetching storage object: gs://{project}_cloudbuild/source/ctx.tgz#"
    )
    assert "Step #0: Step 1/4 : FROM python:3.12-slim" in lines
    assert "Step #0: Step 3/4 : RUN make all" in lines
    failing = lines.index("Step #0: Step 3/4 : RUN make all") + 1
    assert lines[failing].startswith("Step #0: Dockerfile line 3: RUN 'make all' cannot be")
    assert "Step #0: Step 4/4 : CMD python -m http.server" not in lines  # never reached
    assert lines[-3:] == [
        "Finished Step #0",
        "ERROR",
        f'ERROR: build step 0 "{BUILDER}" failed: step exited with non-zero status: 1',
    ]


def test_a_successful_build_logs_its_steps_and_pip_output(enabled, project):
    context = tarball(
        {
            "Dockerfile": b"FROM python:3.12-slim\nCOPY requirements.txt .\n"
            b"RUN pip install -r requirements.txt\nCMD python -m x\n",
            "requirements.txt": b"requests\n",
        }
    )
    _setup(enabled, project, context=context)
    op = enabled.cloud_build.create_build(
        project_id=project, build=_logged(_build(project, _image(project)), project)
    )
    build = op.result(timeout=120)
    assert build.status == Status.SUCCESS
    lines = _log_text(enabled, project, build.id).splitlines()
    assert "Step #0: Step 3/4 : RUN pip install -r requirements.txt" in lines
    run_at = lines.index("Step #0: Step 3/4 : RUN pip install -r requirements.txt")
    cmd_at = lines.index("Step #0: Step 4/4 : CMD python -m x")
    pip = lines[run_at + 1 : cmd_at]  # pip's own output, e.g. "Requirement already satisfied"
    assert any(line.startswith("Step #0: ") and "requests" in line for line in pip), pip
    assert f"Step #0: Successfully tagged {_image(project)}" in lines
    assert lines[-3:] == ["PUSH", f"Pushing {_image(project)}", "DONE"]


def test_a_mode_without_cloud_storage_writes_no_log_object(enabled, project):
    _setup(enabled, project, context=tarball({"Dockerfile": BROKEN}))
    for mode in (cb.BuildOptions.LoggingMode.CLOUD_LOGGING_ONLY, cb.BuildOptions.LoggingMode.NONE):
        build = _logged(_build(project, _image(project)), project, mode)
        failed = _failed(enabled, project, build)
        assert _log_text(enabled, project, failed.id) is None


def test_an_account_that_cannot_write_the_log_fails_before_any_step(enabled, project):
    _setup(enabled, project)
    email = _account(enabled, project)
    member = f"serviceAccount:{email}"
    _grant_bucket(enabled, f"{project}_cloudbuild", member, "roles/storage.objectViewer")
    repo = f"projects/{project}/locations/us-central1/repositories/images"
    _grant_repo(enabled, repo, member, "roles/artifactregistry.writer")
    build = _as(_build(project, _image(project)), project, email, logging=False)
    failed = _failed(enabled, project, _logged(build, project))
    assert failed.status == Status.FAILURE
    assert failed.failure_info.type_ == Failure.LOGGING_FAILURE
    assert failed.status_detail == (
        "Failure setting up GCS logging: failed to create GCS logging client: error creating "
        f"logfile: googleapi: Error 403: {email} does not have storage.objects.create access "
        "to the Google Cloud Storage object., forbidden"
    )
    assert [s.status for s in failed.steps] == [Status.QUEUED]  # no step ran
    assert _log_text(enabled, project, failed.id) is None

    # reading is not writing; creating objects on the bucket is
    _grant_bucket(enabled, f"{project}_cloudbuild", member, "roles/storage.objectCreator")
    build = _as(_build(project, _image(project)), project, email, logging=False)
    op = enabled.cloud_build.create_build(project_id=project, build=_logged(build, project))
    done = op.result(timeout=60)
    assert done.status == Status.SUCCESS
    assert _log_text(enabled, project, done.id).splitlines()[-1] == "DONE"


def test_a_logs_bucket_that_does_not_exist_fails_the_build(enabled, project):
    _setup(enabled, project)
    build = _build(project, _image(project))
    build.logs_bucket = f"gs://{project}-no-such-bucket"
    failed = _failed(enabled, project, build)
    assert failed.failure_info.type_ == Failure.LOGGING_FAILURE
    assert "Error 404: The specified bucket does not exist." in failed.status_detail


def test_a_logs_bucket_must_be_a_gs_url(enabled, project):
    _setup(enabled, project)
    build = _build(project, _image(project))
    build.logs_bucket = f"{project}_cloudbuild"
    with pytest.raises(gexc.BadRequest, match="invalid logs bucket"):
        enabled.cloud_build.create_build(project_id=project, build=build)


def test_a_service_account_with_a_logs_bucket_needs_no_other_logging_choice(enabled, project):
    _setup(enabled, project)
    email = _account(enabled, project)
    build = _as(_build(project, _image(project)), project, email, logging=False)
    with pytest.raises(gexc.BadRequest, match="if 'build.service_account' is specified"):
        enabled.cloud_build.create_build(project_id=project, build=build)
    build.logs_bucket = f"gs://{project}_cloudbuild/logs"  # LEGACY with a bucket of ours: taken
    op = enabled.cloud_build.create_build(project_id=project, build=build)
    assert op.metadata.build.logs_bucket == f"gs://{project}_cloudbuild/logs"
    with pytest.raises(gexc.GoogleAPICallError):
        op.result(timeout=60)  # the account may neither write the log nor read the source
    assert op.metadata.build.failure_info.type_ == Failure.LOGGING_FAILURE
