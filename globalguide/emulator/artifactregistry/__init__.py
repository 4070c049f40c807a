"""Artifact Registry v1 for the emulator (moto-style: state and rules apart from the REST layer).

- ``image_uri``: Docker image URIs (``parse_image_uri``), which Cloud Build and Cloud Run read;
- ``repositories``: ids, locations, formats and modes, what an update may change;
- ``docker``: the packages, versions and tags a Docker repository holds, and their renderings;
- ``repository_iam``: a repository's IAM policy; ``errors``: the API's error answers;
- ``state``: what is held; ``api``: routes and handlers.
"""

from globalguide.emulator.artifactregistry.api import API

__all__ = ["API"]
