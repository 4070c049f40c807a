"""Cloud Resource Manager for the emulator: the project's IAM policy.

- ``project_policy``: the policy the project holds and the rules a new one must meet;
- ``api``: routes and handlers of ``cloudresourcemanager.googleapis.com``.
"""

from globalguide.emulator.resourcemanager.api import API

__all__ = ["API"]
