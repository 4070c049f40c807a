"""A first deploy on a fresh (emulated) project meets the cloud's propagation delays, waits
them out and succeeds: the realistic profile, scaled down, refuses each just-enabled API
for a while (403 SERVICE_DISABLED) and the just-created account in a policy (400 "does not
exist"). The refusals are checked in the request log, so the test cannot pass without them."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import emulator_requests, run_cli, run_json

pytestmark = pytest.mark.e2e

# Enable 2 s, then 4.5 s of SERVICE_DISABLED (longer than importing google-genai takes on a
# loaded machine); a new account invisible for 3 s.
SCALE = "0.1"


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLOBALGUIDE_STATE_DIR", str(tmp_path_factory.mktemp("realistic-state")))
        info = run_json("emulator", "start", "--profile", "realistic", "--time-scale", SCALE)
        try:
            yield info
        finally:
            run_cli("teardown", "--local", "--yes", check=False)
            run_cli("emulator", "stop", check=False)


def test_a_first_deploy_waits_for_propagation_and_succeeds(realistic):
    document = run_json("deploy", "--local", "--yes")
    assert document["served_from_region"] in {"asia-northeast1", "europe-west1", "us-central1"}
    log = emulator_requests(realistic["endpoint"])
    enabled_at = next(
        r["at"] for r in log if r["path"].endswith("services:batchEnable") and r["status"] == 200
    )
    # The model check (Vertex AI's generateContent) is the first call after the enable.
    refused = [
        r
        for r in log
        if r["status"] == 403 and r["api"] != "serviceusage" and r["at"] > enabled_at
        and r["method"] == "POST"
    ]  # fmt: skip
    assert refused, "no API answered SERVICE_DISABLED after the enable"
    policy_refusals = [r for r in log if r["path"].endswith(":setIamPolicy") and r["status"] == 400]
    assert policy_refusals, "the new account was never refused in the policy"
    # Each refused call was made again, and then it succeeded.
    for bad in refused + policy_refusals:
        assert any(
            r["path"] == bad["path"]
            and r["method"] == bad["method"]
            and r["status"] < 300
            and r["at"] > bad["at"]
            for r in log
        ), bad
