"""IAM for the emulator: service accounts, roles and permissions, resource policies.

- ``accounts``: the rules for a new service account, the project's accounts and when each
  becomes visible, and the actAs error;
- ``roles``: the predefined roles a project policy accepts;
- ``policy``: what every IAM policy shares (version, bindings, role names, etag);
- ``permissions``: roles as permissions, who holds what, the IAM policy of one resource;
- ``api``: routes and handlers of ``iam.googleapis.com``.
"""

from globalguide.emulator.iam.accounts import act_as_denied
from globalguide.emulator.iam.api import API

__all__ = ["API", "act_as_denied"]
