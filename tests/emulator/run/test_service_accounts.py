"""Deploying as a service account: Cloud Run asks IAM whether the account can be acted as."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from tests.emulator.run.support import create_service, parent_of, publish, service_with


def _account(project: str) -> str:
    return f"guide-runtime@{project}.iam.gserviceaccount.com"


def test_a_missing_service_account_is_an_act_as_denial(enabled, emu, project, dataplane):
    service = service_with("x", template={"service_account": _account(project)})
    with pytest.raises(gexc.Forbidden) as caught:
        create_service(enabled, project, service)
    assert caught.value.message.endswith(
        f": Permission 'iam.serviceaccounts.actAs' denied on service account {_account(project)} "
        "(or it may not exist)."
    )
    assert enabled.run_services.list_services(parent=parent_of(project)).services == []


def test_an_account_iam_does_not_show_yet_is_refused_until_it_does(
    enabled, emu, project, dataplane, monkeypatch
):
    """Under the realistic profile IAM tells Cloud Run when a new account becomes visible."""
    visible = {"now": False}
    seen = []

    def account_visible(email):
        seen.append(email)
        return visible["now"]

    monkeypatch.setattr(emu.iam, "visible", account_visible)
    image = publish(enabled, emu, project)
    service = service_with(image, template={"service_account": _account(project)})
    with pytest.raises(gexc.Forbidden, match="iam.serviceaccounts.actAs"):
        create_service(enabled, project, service)
    visible["now"] = True
    created = create_service(enabled, project, service).result(timeout=10)
    assert created.template.service_account == _account(project)
    assert seen == [_account(project)] * 2
