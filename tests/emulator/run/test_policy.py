"""A Cloud Run service's IAM policy: read-modify-write by etag, roles, members, permissions."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.iam.v1 import iam_policy_pb2, policy_pb2

from tests.emulator.run.support import create_service, parent_of, publish, service_with


def test_iam_policy_read_modify_write(enabled, emu, project, dataplane):
    client = enabled.run_services
    created = create_service(enabled, project, service_with(publish(enabled, emu, project))).result(
        timeout=10
    )
    policy = client.get_iam_policy(
        request=iam_policy_pb2.GetIamPolicyRequest(resource=created.name)
    )
    assert list(policy.bindings) == []
    policy.bindings.append(policy_pb2.Binding(role="roles/run.invoker", members=["allUsers"]))
    stored = client.set_iam_policy(
        request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=policy)
    )
    assert stored.bindings[0].members == ["allUsers"]
    assert stored.etag != policy.etag

    with pytest.raises(gexc.Conflict, match="There were concurrent policy changes"):
        client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=policy)
        )
    bad_role = policy_pb2.Policy(
        bindings=[policy_pb2.Binding(role="roles/nope", members=["allUsers"])]
    )
    with pytest.raises(gexc.BadRequest, match="is not supported for this resource"):
        client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=bad_role)
        )
    bad_member = policy_pb2.Policy(
        bindings=[policy_pb2.Binding(role="roles/run.invoker", members=["everyone"])]
    )
    with pytest.raises(gexc.BadRequest, match="principal"):
        client.set_iam_policy(
            request=iam_policy_pb2.SetIamPolicyRequest(resource=created.name, policy=bad_member)
        )
    allowed = client.test_iam_permissions(
        request=iam_policy_pb2.TestIamPermissionsRequest(
            resource=created.name, permissions=["run.routes.invoke", "compute.instances.list"]
        )
    )
    assert list(allowed.permissions) == ["run.routes.invoke"]
    with pytest.raises(gexc.NotFound):
        client.get_iam_policy(
            request=iam_policy_pb2.GetIamPolicyRequest(resource=f"{parent_of(project)}/services/x")
        )
