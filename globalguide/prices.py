"""Estimated monthly cost of a deployment, from a price table kept here with its sources.

The fixed part is what runs whether or not anyone calls: each global forwarding rule is
billed by the hour, and each minimum instance of a Cloud Run service is billed all month.
Traffic costs (requests, CPU while serving, Gemini tokens, load-balancer data) depend on
use, so they are given as a formula of the traffic, not as a number. List prices in USD,
Tier 1 regions, free tiers not subtracted except where said; an estimate, not a quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRICES_READ_ON = "2026-12-01"
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600

SOURCES = {
    "load-balancing": "https://cloud.google.com/load-balancing/pricing",
    "cloud-run": "https://cloud.google.com/run/pricing",
    "artifact-registry": "https://cloud.google.com/artifact-registry/pricing",
    "cloud-build": "https://cloud.google.com/build/pricing",
    "vertex-ai": "https://cloud.google.com/vertex-ai/generative-ai/pricing",
}


@dataclass(frozen=True)
class Price:
    usd: float  # per the unit that ends the price's key
    source: str  # a key of SOURCES


PRICES = {
    # "First 5 forwarding rules $0.025 per hour; per additional forwarding rule $0.01".
    "forwarding_rule_hour": Price(0.025, "load-balancing"),
    # Data processed by the load balancer, each way.
    "lb_data_gib": Price(0.008, "load-balancing"),
    # Request-based billing, Tier 1, beyond the free tier (2 million requests a month free).
    # Idle minimum instances are billed at a lower idle rate, so the CPU and memory prices
    # make the minimum-instance figure an upper bound.
    "run_vcpu_second": Price(0.000024, "cloud-run"),
    "run_gib_second": Price(0.0000025, "cloud-run"),
    "run_million_requests": Price(0.40, "cloud-run"),
    # Docker repository storage: up to 0.5 GB free, then $0.10 per GB-month.
    "registry_gb_month": Price(0.10, "artifact-registry"),
    # Default pool, e2-standard-2: first 2,500 build-minutes a month free.
    "build_minute": Price(0.006, "cloud-build"),
}
REGISTRY_FREE_GB = 0.5
# What the service deploys with (cloud/resources/run.py): 1 vCPU, 512 MiB.
INSTANCE_VCPU, INSTANCE_GIB = 1.0, 0.5
# Assumptions, said in the output: the image's stored size and a build's length.
IMAGE_GB = 0.25
BUILD_MINUTES = 3.0


def _usd(value: float) -> float:
    return round(value, 2)


def instance_second_usd() -> float:
    """One instance of the deployed size (INSTANCE_VCPU, INSTANCE_GIB) for one second."""
    return (
        INSTANCE_VCPU * PRICES["run_vcpu_second"].usd + INSTANCE_GIB * PRICES["run_gib_second"].usd
    )


def instance_month_usd(count: int) -> float:
    return count * instance_second_usd() * SECONDS_PER_MONTH


TRAFFIC_FORMULA = (
    f"traffic, per million requests: ${PRICES['run_million_requests'].usd:.2f} (Cloud Run "
    f"requests) + T x ${instance_second_usd() * 1e6:.2f} (CPU and memory while serving, T = "
    "seconds per request, shared by concurrent requests) + I x pin + O x pout (Gemini tokens: "
    "I, O = input and output tokens per request; pin, pout = the model's USD per token on the "
    f"Vertex AI pricing page) + D x ${2 * PRICES['lb_data_gib'].usd:.3f} (load-balancer data: "
    "D = GiB per million requests, in and out)"
)


def resource_cost(kind: str, owned: dict[str, Any]) -> dict[str, Any] | None:
    """The fixed monthly cost of one resource, or None when it has none of its own."""
    if kind == "forwarding-rule":
        hourly = PRICES["forwarding_rule_hour"].usd
        return {"monthly_usd": _usd(hourly * HOURS_PER_MONTH),
                "basis": f"{HOURS_PER_MONTH} h x ${hourly}",
                "source": SOURCES["load-balancing"]}  # fmt: skip
    if kind == "run-service":
        count = int(owned.get("min") or 0)
        return {
            "monthly_usd": _usd(instance_month_usd(count)),
            "basis": f"{count} min instance{'' if count == 1 else 's'} x 1 vCPU, 0.5 GiB, "
            "all month (upper bound)",
            "source": SOURCES["cloud-run"],
        }
    if kind == "repository":
        usd = max(0.0, IMAGE_GB - REGISTRY_FREE_GB) * PRICES["registry_gb_month"].usd
        return {"monthly_usd": _usd(usd),
                "basis": f"about {IMAGE_GB} GB of images (0.5 GB free)",
                "source": SOURCES["artifact-registry"]}  # fmt: skip
    if kind == "image":
        return {"monthly_usd": 0.0,
                "per_build_usd": _usd(BUILD_MINUTES * PRICES["build_minute"].usd),
                "basis": f"about {BUILD_MINUTES:.0f} build-minutes per build (2,500 free a month)",
                "source": SOURCES["cloud-build"]}  # fmt: skip
    return None


def estimate(resources: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """(key, kind, owned fields) of what will exist -> the estimate document."""
    rows = {}
    for key, kind, owned in resources:
        cost = resource_cost(kind, owned)
        if cost is not None:
            rows[key] = cost
    return {
        "currency": "USD",
        "monthly_fixed_usd": _usd(sum(r["monthly_usd"] for r in rows.values())),
        "resources": rows,
        "traffic": TRAFFIC_FORMULA,
        "prices_read_on": PRICES_READ_ON,
        "sources": sorted(set(SOURCES.values())),
        "estimate": True,
    }


def estimate_line(document: dict[str, Any]) -> str:
    """The estimate for people: the fixed monthly figure, the traffic formula, the sources."""
    return "\n".join(
        [
            f"Estimated cost: ${document['monthly_fixed_usd']:.2f} a month before traffic "
            f"(an estimate from list prices read {document['prices_read_on']}).",
            f"Plus {document['traffic']}.",
            "Sources: " + " ".join(document["sources"]),
        ]
    )
