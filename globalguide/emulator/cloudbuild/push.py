"""The end of a build: the images it names are pushed to Artifact Registry.

A push needs the repository to exist in the project and the build's account to hold
``artifactregistry.repositories.uploadArtifacts`` on it; otherwise the build fails with
the registry's words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from globalguide.emulator.artifactregistry.image_uri import parse_image_uri
from globalguide.emulator.cloudbuild.state import Failure, Outcome, Record
from globalguide.emulator.cloudbuild.steps import tagged
from globalguide.emulator.core.timestamps import rfc3339
from globalguide.emulator.iam.permissions import UPLOAD_ARTIFACTS, holds

if TYPE_CHECKING:
    from globalguide.emulator.artifactregistry import API as ArtifactRegistryAPI
    from globalguide.emulator.resourcemanager import API as ResourceManagerAPI

# A stand-in digest for the docker builder image, reported in results.buildStepImages.
_BUILDER_DIGEST = "sha256:" + "d0c4e7b5" * 8


def push_images(
    record: Record,
    outcome: Outcome,
    now: float,
    *,
    project: str,
    registry: ArtifactRegistryAPI,
    resourcemanager: ResourceManagerAPI,
) -> Failure | None:
    """Push the push steps' and ``images``' images; the failure, or None with the build's
    ``results`` and push timing recorded."""
    results: list[dict[str, Any]] = []
    wanted: list[tuple[int | None, str]] = [(index, image) for index, image in outcome.pushes]
    wanted += [(None, image) for image in record.build.get("images", [])]
    missing = [img for _, img in wanted if tagged(img) not in outcome.built]
    if missing:
        return (
            "PUSH_IMAGE_NOT_FOUND",
            "failed to find one or more images after execution of build steps: "
            + str(missing).replace("'", '"'),
            None,
        )
    for step_index, image_name in wanted:
        image = outcome.built[tagged(image_name)]
        ref = parse_image_uri(tagged(image_name))
        problem = None
        if ref is None:
            problem = (
                f"failed to push {image_name}: the emulator pushes only to Artifact "
                "Registry (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE)"
            )
        elif ref.project == project and not holds(
            resourcemanager,
            f"serviceAccount:{record.account}",
            UPLOAD_ARTIFACTS,
            registry.policy_of(ref.repository_name),
        ):
            problem = (
                f'denied: Permission "{UPLOAD_ARTIFACTS}" denied on resource '
                f'"{ref.repository_name}" (or it may not exist)'
            )
        elif ref.project != project or not registry.record_image(
            ref.repository_name, ref.image, ref.tag or "latest", image.digest, image.size_bytes
        ):
            problem = f'name unknown: Repository "{ref.repository}" not found'
        if problem is not None:
            kind = "PUSH_FAILED" if step_index is None else "USER_BUILD_STEP"
            return (kind, problem, step_index)
        if step_index is None:
            results.append(
                {
                    "name": image_name,
                    "digest": image.digest,
                    "pushTiming": {"startTime": rfc3339(now), "endTime": rfc3339(now)},
                }
            )
    record.build["results"] = {
        "buildStepImages": [_BUILDER_DIGEST for _ in record.steps],
        "buildStepOutputs": ["" for _ in record.steps],
    }
    if results:
        record.build["results"]["images"] = results
    record.build.setdefault("timing", {})["PUSH"] = {
        "startTime": rfc3339(now),
        "endTime": rfc3339(now),
    }
    return None
