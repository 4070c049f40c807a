"""One small class per resource kind: its desired state, and how to read, compare, create,
update and delete it. Grouped by what they are for; everything is importable from here."""

from globalguide.cloud.resources.artifacts import BuildBucket, Image, Repository
from globalguide.cloud.resources.base import (
    Context,
    OperationFailed,
    Resource,
    Unhealthy,
    api_disabled,
    short_link,
    wait_operation,
)
from globalguide.cloud.resources.build_identity import (
    BucketGrant,
    BuildAccount,
    FormerBuildRoles,
    RepositoryPushGrant,
)
from globalguide.cloud.resources.loadbalancer import (
    BackendService,
    ForwardingRule,
    GlobalAddress,
    ManagedCertificate,
    RedirectUrlMap,
    ServerlessNeg,
    TargetHttpProxy,
    TargetHttpsProxy,
    UrlMap,
)
from globalguide.cloud.resources.project import EnabledApis, RuntimeAccount, RuntimeRoles
from globalguide.cloud.resources.run import RunService, ServiceSettings

__all__ = [
    "BackendService",
    "BucketGrant",
    "BuildAccount",
    "BuildBucket",
    "FormerBuildRoles",
    "Context",
    "EnabledApis",
    "ForwardingRule",
    "GlobalAddress",
    "Image",
    "ManagedCertificate",
    "OperationFailed",
    "RedirectUrlMap",
    "RepositoryPushGrant",
    "Repository",
    "Resource",
    "RunService",
    "RuntimeAccount",
    "RuntimeRoles",
    "ServerlessNeg",
    "ServiceSettings",
    "TargetHttpProxy",
    "TargetHttpsProxy",
    "Unhealthy",
    "UrlMap",
    "api_disabled",
    "short_link",
    "wait_operation",
]
