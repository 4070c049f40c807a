"""Which Gemini models Vertex AI serves, where, and how each one thinks.

One table serves deploy (which location a region calls) and the emulator's fake Gemini
(which model names exist, where, and which thinking configurations they take).

Where: a regional service calls Vertex AI in its own region when the model is served there
and the ``global`` endpoint otherwise (../docs/architecture.md, "Region-local Gemini");
deploy then checks, once per distinct location, that the model really answers there before
it creates anything. A model that is not in the table does not exist: Vertex answers 404
NOT_FOUND for it, and so does the emulator.

Sources (docs/emulator.md, "Vertex AI (fake Gemini)", has the full register):
- locations: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/locations (the
  regional endpoints); Gemini 3.x Flash models are served from the global endpoint only
  (gcp-facts §4, DefangLabs/samples PR #652).
- models: the Vertex model-versions page
  (https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions: "requests
  that reference a retired model ID usually return a 404 error") and the Gemini API
  deprecations page (https://ai.google.dev/gemini-api/docs/deprecations) for the 3.x Flash
  releases. Gemini 1.x and 2.0 models are retired.
- thinking: google-genai ``types.ThinkingConfig`` ("0 is DISABLED. -1 is AUTOMATIC. The
  default values and allowed ranges are model dependent"); the Vertex thinking page's table
  (2.5 Flash 1 to 24576, 2.5 Pro 128 to 32768 and cannot be turned off, 2.5 Flash-Lite 512 to
  24576; default automatic up to 8192; ``thinking_level`` on a model earlier than Gemini 3 is
  an error); Gemini 3 Flash takes levels MINIMAL, LOW, MEDIUM, HIGH (default HIGH).
"""

from __future__ import annotations

from dataclasses import dataclass

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

# The multi-region endpoints google-genai knows (aiplatform.{us,eu}.rep.googleapis.com).
JURISDICTIONS: tuple[str, ...] = ("us", "eu")

# Gemini 3 Flash thinking levels; 3.x Pro models take LOW and HIGH only.
FLASH_LEVELS: tuple[str, ...] = ("MINIMAL", "LOW", "MEDIUM", "HIGH")
DYNAMIC_BUDGET = -1
# The 2.5 models' automatic thinking stops at this many tokens (Vertex thinking page).
AUTOMATIC_BUDGET_CAP = 8192


@dataclass(frozen=True)
class GeminiModel:
    """One Gemini model on Vertex AI.

    ``regions``: the regional endpoints serving it (the global endpoint serves every model
    here). Thinking: ``levels`` is empty for models that take a token budget only
    (``thinkingLevel`` is refused); ``budget_range`` is the (min, max) an explicit budget
    must fall in; ``can_disable`` says whether a budget of 0 turns thinking off;
    ``default_level`` is what a level model uses when the request names none.
    """

    name: str
    regions: frozenset[str]
    budget_range: tuple[int, int]
    can_disable: bool
    levels: tuple[str, ...] = ()
    default_level: str | None = None

    @property
    def takes_levels(self) -> bool:
        return bool(self.levels)

    def serves(self, location: str) -> bool:
        return location == GLOBAL or location in JURISDICTIONS or location in self.regions


def _flash3(name: str) -> GeminiModel:
    # Global endpoint only; budget 0 is refused (measured on gemini-3.6-flash, public
    # report; MINIMAL is the lowest setting), other budgets are taken for compatibility.
    return GeminiModel(
        name=name,
        regions=frozenset(),
        budget_range=(1, 24576),
        can_disable=False,
        levels=FLASH_LEVELS,
        default_level="HIGH",
    )


_ALL_REGIONS = frozenset(GEMINI_REGIONS)

MODELS: dict[str, GeminiModel] = {
    model.name: model
    for model in (
        GeminiModel("gemini-2.5-flash", _ALL_REGIONS, budget_range=(1, 24576), can_disable=True),
        GeminiModel("gemini-2.5-pro", _ALL_REGIONS, budget_range=(128, 32768), can_disable=False),
        GeminiModel(
            "gemini-2.5-flash-lite", _ALL_REGIONS, budget_range=(512, 24576), can_disable=True
        ),
        _flash3("gemini-3.5-flash"),
        _flash3("gemini-3.5-flash-lite"),
        _flash3("gemini-3.6-flash"),
        _flash3("gemini-3.7-flash"),
        _flash3("gemini-3.8-flash"),
    )
}


def model(name: str) -> GeminiModel | None:
    """The model called ``name`` on Vertex AI, or None when Vertex has no such model."""
    return MODELS.get(name)


def vertex_location(model_name: str, region: str) -> str:
    """The Vertex AI location a service in ``region`` calls for ``model_name``."""
    known = MODELS.get(model_name)
    return region if known is not None and region in known.regions else GLOBAL
