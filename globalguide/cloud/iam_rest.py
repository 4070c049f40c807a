"""IAM service accounts over REST.

``google-cloud-iam``'s ``iam_admin_v1.IAMClient`` offers only gRPC transports, which
cannot reach the emulator's HTTP endpoint; the IAM v1 REST API is small, so this calls it
directly with the same credentials and raises the same ``google.api_core`` exceptions the
generated clients raise.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from google.api_core import exceptions as gexc

IAM_ENDPOINT = "https://iam.googleapis.com"
TIMEOUT_S = 60.0


class ServiceAccounts:
    def __init__(self, credentials: Any, endpoint: str | None = None) -> None:
        from google.auth.transport.requests import AuthorizedSession

        if credentials is None:
            import google.auth

            credentials, _ = google.auth.default(
                scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        self._session = AuthorizedSession(credentials)
        self._base = (endpoint or IAM_ENDPOINT).rstrip("/")

    def _call(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        response = self._session.request(
            method, f"{self._base}/v1/{path}", json=body, timeout=TIMEOUT_S
        )
        if response.status_code >= 400:
            raise gexc.from_http_response(response)
        return response.json() if response.content else {}

    def get(self, project: str, email: str) -> dict[str, Any]:
        return self._call("GET", f"projects/{project}/serviceAccounts/{quote(email)}")

    def create(
        self, project: str, account_id: str, *, display_name: str, description: str
    ) -> dict[str, Any]:
        body = {
            "accountId": account_id,
            "serviceAccount": {"displayName": display_name, "description": description},
        }
        return self._call("POST", f"projects/{project}/serviceAccounts", body)

    def delete(self, project: str, email: str) -> None:
        self._call("DELETE", f"projects/{project}/serviceAccounts/{quote(email)}")
