"""The errors Service Usage adds details to: a disabled API, services that do not exist."""

from __future__ import annotations

from typing import Any

from globalguide.emulator.core.routing import ApiError
from globalguide.emulator.serviceusage.catalog import SERVICE_TITLES


def activation_url(service: str, project: str) -> str:
    return f"https://console.developers.google.com/apis/api/{service}/overview?project={project}"


class ServiceDisabled(ApiError):
    """403 SERVICE_DISABLED, with the ErrorInfo and Help details Google's front end adds.

    The project is named by its number only, in the message and in the details alike.
    """

    def __init__(self, service: str, number: str) -> None:
        self.service = service
        self.title = SERVICE_TITLES.get(service, service)
        self.number = number
        self.url = activation_url(service, number)
        message = (
            f"{self.title} has not been used in project {number} before or it is disabled. "
            f"Enable it by visiting {self.url} then retry. If you enabled this API recently, "
            "wait a few minutes for the action to propagate to our systems and retry."
        )
        super().__init__(403, message, reason="accessNotConfigured", status="PERMISSION_DENIED")

    def details(self) -> list[dict[str, Any]]:
        return [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": self.service,
                    "consumer": f"projects/{self.number}",
                    "containerInfo": self.number,
                    "serviceTitle": self.title,
                    "activationUrl": self.url,
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": self.message,
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {"description": "Google developers console API activation", "url": self.url}
                ],
            },
        ]

    def body(self, style: str = "google") -> dict[str, Any]:
        error: dict[str, Any] = {"code": 403, "message": self.message}
        if style in ("compute", "storage"):
            error["errors"] = [
                {
                    "message": self.message,
                    "domain": "usageLimits",
                    "reason": "accessNotConfigured",
                    "extendedHelp": "https://console.developers.google.com",
                }
            ]
        error["status"] = "PERMISSION_DENIED"
        error["details"] = self.details()
        return {"error": error}


class UnknownServices(ApiError):
    """403 for service names that do not exist (or that the caller may not see)."""

    def __init__(self, services: list[str]) -> None:
        self.services = services
        super().__init__(
            403,
            f"Not found or permission denied for service(s): {', '.join(services)}.",
            reason="forbidden",
            status="PERMISSION_DENIED",
        )

    def body(self, style: str = "google") -> dict[str, Any]:
        out = super().body(style)
        out["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED",
                "domain": "serviceusage.googleapis.com",
                "metadata": {"services": ",".join(self.services)},
            }
        ]
        return out
