"""Where each Gemini model is served on Vertex AI, and so which location a region calls.

A regional service calls Vertex AI in its own region when the model is served there and
the ``global`` endpoint otherwise (../docs/architecture.md, "Region-local Gemini"). The
table is deliberately small and conservative: a model or region it does not know gets
``global``, which serves every current Gemini model; deploy then checks, once per distinct
location, that the model really answers there before it creates anything.
"""

from __future__ import annotations

GLOBAL = "global"

# Cloud Run regions with a regional Vertex AI endpoint serving Gemini
# (https://cloud.google.com/vertex-ai/generative-ai/docs/learn/locations). The emulator's
# fake Gemini uses the same list to model where the ``global`` endpoint lands.
GEMINI_REGIONS: tuple[str, ...] = (
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4",
    "northamerica-northeast1", "southamerica-east1", "europe-central2", "europe-north1",
    "europe-southwest1", "europe-west1", "europe-west2", "europe-west3", "europe-west4",
    "europe-west6", "europe-west8", "europe-west9", "asia-east1", "asia-east2",
    "asia-northeast1", "asia-northeast3", "asia-south1", "asia-southeast1",
    "australia-southeast1", "me-central1", "me-central2", "me-west1",
)  # fmt: skip

# Models with regional on-demand endpoints, and where. Gemini 3.x Flash models are served
# from the global endpoint only (see docs/architecture.md for the sources), so they are
# absent here.
REGIONAL_MODELS: dict[str, frozenset[str]] = {
    "gemini-2.5-flash": frozenset(GEMINI_REGIONS),
}


def vertex_location(model: str, region: str) -> str:
    """The Vertex AI location a service in ``region`` calls for ``model``."""
    return region if region in REGIONAL_MODELS.get(model, frozenset()) else GLOBAL
