"""The predefined IAM roles the emulator knows: a role outside this list is refused in a
project policy with 400 "Role X is not supported for this resource.", as the cloud answers
for a role that does not exist (hashicorp/terraform-provider-google#993). The list covers
the basic roles and the predefined roles of the services the emulator serves, with names
from https://cloud.google.com/iam/docs/roles-permissions ; the project has no custom roles.
"""

from __future__ import annotations

_BY_SERVICE = {
    "": ("owner", "editor", "viewer", "browser"),
    "aiplatform": ("admin", "user", "viewer", "serviceAgent"),
    "artifactregistry": ("admin", "reader", "writer", "repoAdmin", "createOnPushWriter",
                         "createOnPushRepoAdmin", "serviceAgent"),
    "cloudbuild": ("builds.builder", "builds.editor", "builds.viewer", "builds.approver",
                   "serviceAgent", "workerPoolUser"),
    "compute": ("admin", "instanceAdmin", "instanceAdmin.v1", "loadBalancerAdmin",
                "loadBalancerServiceUser", "networkAdmin", "networkUser", "networkViewer",
                "securityAdmin", "storageAdmin", "viewer", "serviceAgent", "osLogin",
                "osAdminLogin"),
    "iam": ("serviceAccountUser", "serviceAccountAdmin", "serviceAccountCreator",
            "serviceAccountDeleter", "serviceAccountKeyAdmin", "serviceAccountTokenCreator",
            "workloadIdentityUser", "securityAdmin", "securityReviewer", "roleAdmin",
            "roleViewer"),
    "logging": ("admin", "logWriter", "viewer", "privateLogViewer", "configWriter",
                "bucketWriter"),
    "monitoring": ("admin", "editor", "viewer", "metricWriter"),
    "cloudtrace": ("agent", "user", "admin"),
    "resourcemanager": ("projectIamAdmin", "projectCreator", "projectDeleter", "projectMover",
                        "organizationAdmin", "organizationViewer", "folderAdmin",
                        "folderViewer", "tagUser", "tagViewer"),
    "run": ("admin", "developer", "invoker", "servicesInvoker", "viewer", "sourceDeveloper",
            "serviceAgent"),
    "serviceusage": ("serviceUsageAdmin", "serviceUsageConsumer", "serviceUsageViewer",
                     "apiKeysAdmin", "apiKeysViewer"),
    "storage": ("admin", "objectAdmin", "objectCreator", "objectViewer", "objectUser",
                "legacyBucketOwner", "legacyBucketReader", "legacyBucketWriter",
                "legacyObjectOwner", "legacyObjectReader", "insightsCollectorService"),
}  # fmt: skip

PREDEFINED_ROLES = frozenset(
    f"roles/{service}.{role}" if service else f"roles/{role}"
    for service, roles in _BY_SERVICE.items()
    for role in roles
)
