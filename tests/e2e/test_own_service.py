"""Your own service: `deploy --local --source DIR` builds it in the emulator's Cloud Build,
runs it in every region, and probe tells which region answered from X-Served-Region."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from globalguide.emulator.session import bearer
from globalguide.probe import resolve_cities
from tests.e2e.conftest import clear_requests, emulator_requests, run_cli, run_json

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REGIONS = "asia-northeast1,europe-west1,southamerica-east1"
NEAREST = {"Tokyo": "asia-northeast1", "Paris": "europe-west1", "São Paulo": "southamerica-east1"}

# Written the way anyone would, not in this repository's style: Flask, its own Dockerfile on
# a python base image, gunicorn on $PORT; it keeps the contract (reads the location header,
# names its region) and answers in its own format.
INDEPENDENT_APP = """\
import os
from flask import Flask, request, jsonify

app = Flask(__name__)

@app.route("/")
def index():
    loc = request.headers.get("X-Client-Geo-Location", "")
    loc = loc.encode("latin-1", "replace").decode("utf-8", "replace")
    resp = jsonify(you_are_in=loc.split(",")[0], served_by=os.environ.get("SERVICE_REGION"))
    resp.headers["X-Served-Region"] = os.environ.get("SERVICE_REGION", "")
    return resp
"""
INDEPENDENT_DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /code
COPY requirements.txt /code/requirements.txt
RUN pip install --no-cache-dir --upgrade -r /code/requirements.txt
COPY ./app.py /code/app.py
CMD exec gunicorn --bind 0.0.0.0:$PORT --workers 1 app:app
"""


def independent_service(tmp_path: Path) -> Path:
    root = tmp_path / "independent"
    root.mkdir()
    (root / "app.py").write_text(INDEPENDENT_APP)
    (root / "requirements.txt").write_text("flask\ngunicorn\n")
    (root / "Dockerfile").write_text(INDEPENDENT_DOCKERFILE)
    return root


def as_from(city: str) -> dict[str, str]:
    """The emulator's client-location header for a city (coordinates: ASCII-safe)."""
    (found,) = resolve_cities([city], None)
    return {"X-Emulator-Client-LatLng": f"{found.lat},{found.lon}"}


def mutating(endpoint: str) -> list[dict]:
    return [r for r in emulator_requests(endpoint) if r["mutating"]]


def deploy_probe_teardown(endpoint: str, source: Path, name: str, city_in_body) -> None:
    document = run_json(
        "deploy", "--local", "--yes", "--name", name, "--regions", REGIONS,
        "--source", str(source),
    )  # fmt: skip
    url = document["url"]
    assert url.startswith("http://127.0.0.1:")
    assert {r["region"]: r["status"] for r in document["regions"]} == dict.fromkeys(
        REGIONS.split(","), "serving"
    )

    probed = run_json(
        "probe", "--local", "--name", name,
        *[arg for city in NEAREST for arg in ("--as-city", city)],
    )  # fmt: skip
    by_city = {p["city"]["name"]: p for p in probed["probes"]}
    for city, region in NEAREST.items():
        assert by_city[city]["status"] == "ok", by_city[city]
        assert by_city[city]["served_from_region"] == region

    for city, region in NEAREST.items():
        answer = requests.get(url, headers=as_from(city), timeout=30)
        assert answer.status_code == 200
        assert answer.headers["X-Served-Region"] == region
        assert city_in_body(answer) == city

    forged = requests.get(
        url,
        headers={**as_from("Tokyo"), "X-Client-Geo-Location": "Atlantis,XX,ZZ"},
        timeout=30,
    )
    assert "Atlantis" not in forged.text and city_in_body(forged) == "Tokyo"

    clear_requests(endpoint)
    again = run_json(
        "deploy", "--local", "--yes", "--name", name, "--regions", REGIONS,
        "--source", str(source),
    )  # fmt: skip
    assert {r["action"] for r in again["resources"]} == {"unchanged"}
    assert mutating(endpoint) == []

    gone = run_json("teardown", "--local", "--yes", "--name", name)
    assert gone["left"] == 0
    assert requests.get(
        f"{endpoint}/_emulator/resources", headers=bearer(endpoint), timeout=10
    ).json() == {"count": 0}


def test_the_fastapi_example_serves_each_city_from_its_nearest_region(local_emulator):
    deploy_probe_teardown(
        local_emulator["endpoint"],
        EXAMPLES / "fastapi-service",
        "hello-asgi",
        lambda answer: answer.json()["city"],
    )


def test_the_wsgi_example_without_a_dockerfile_serves_each_city(local_emulator):
    def city(answer: requests.Response) -> str:
        fields = dict(line.split("=", 1) for line in answer.text.splitlines())
        return fields["city"]

    dry = run_json(
        "deploy", "--local", "--dry-run", "--name", "hello-wsgi", "--regions", REGIONS,
        "--source", str(EXAMPLES / "wsgi-service"),
    )  # fmt: skip
    assert "gunicorn" in dry["generated_dockerfile"] and "app:app" in dry["generated_dockerfile"]
    deploy_probe_teardown(local_emulator["endpoint"], EXAMPLES / "wsgi-service", "hello-wsgi", city)


def test_an_independently_written_service_deploys_and_probes(local_emulator, tmp_path):
    deploy_probe_teardown(
        local_emulator["endpoint"],
        independent_service(tmp_path),
        "indie",
        lambda answer: answer.json()["you_are_in"],
    )


def test_a_broken_dockerfile_fails_once_with_its_step_and_line(local_emulator, tmp_path):
    endpoint = local_emulator["endpoint"]
    root = tmp_path / "broken"
    root.mkdir()
    (root / "Dockerfile").write_text(
        "FROM python:3.12-slim\nWORKDIR /app\nRUN make all\nCMD python -m http.server\n"
    )
    clear_requests(endpoint)
    proc = run_cli(
        "deploy", "--local", "--yes", "--name", "broken", "--regions", "europe-west1",
        "--source", str(root), check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "at step 0 (gcr.io/cloud-builders/docker)" in proc.stderr
    assert "Dockerfile line 3: RUN 'make all' cannot be interpreted" in proc.stderr
    assert "console.cloud.google.com/cloud-build/builds" in proc.stderr
    # the end of the build log, read back from the build bucket
    stderr = " ".join(proc.stderr.split())  # the terminal wraps long lines
    assert "The build log ends:" in stderr
    assert "Step #0: Step 3/4 : RUN make all" in stderr
    assert "Step #0: Dockerfile line 3: RUN 'make all' cannot be interpreted" in stderr
    assert 'ERROR: build step 0 "gcr.io/cloud-builders/docker" failed' in stderr
    assert "Step 4/4" not in stderr  # the build stopped at the failing line
    assert "Traceback" not in proc.stderr
    builds = [
        r
        for r in emulator_requests(endpoint)
        if r["method"] == "POST" and r["path"].endswith("/builds")
    ]
    assert len(builds) == 1
    assert run_json("teardown", "--local", "--yes", "--name", "broken")["left"] == 0


@pytest.mark.parametrize(
    "args, says",
    [
        (["--env", "PORT=9000"], "Cloud Run sets PORT itself"),
        (["--env", "K_REVISION=x"], "Cloud Run sets K_REVISION itself"),
        (["--env", "NOEQUALS"], "use KEY=VALUE"),
        (["--port", "70000"], "--port must be between 1 and 65535"),
        (["--cpu", "3"], "Cloud Run takes 1, 2, 4, 6 or 8 CPUs"),
        (["--memory", "64Gi"], "Cloud Run takes 128Mi to 32Gi"),
    ],
)
def test_bad_container_settings_are_usage_errors_that_change_nothing(local_emulator, args, says):
    endpoint = local_emulator["endpoint"]
    clear_requests(endpoint)
    proc = run_cli(
        "deploy", "--local", "--yes", "--source", str(EXAMPLES / "wsgi-service"), *args,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    assert mutating(endpoint) == []


def test_a_missing_directory_or_an_unbuildable_one_is_a_usage_error(local_emulator, tmp_path):
    endpoint = local_emulator["endpoint"]
    (tmp_path / "notes.txt").write_text("no app here\n")
    clear_requests(endpoint)
    for source, says in ((tmp_path / "missing", "no such directory"), (tmp_path, "no Dockerfile")):
        proc = run_cli("deploy", "--local", "--yes", "--source", str(source), check=False)
        assert proc.returncode == 2, proc.stderr
        assert says in proc.stderr and "Traceback" not in proc.stderr
    assert mutating(endpoint) == []


def test_an_image_cloud_run_cannot_pull_is_refused_before_any_change(local_emulator):
    endpoint = local_emulator["endpoint"]
    clear_requests(endpoint)
    proc = run_cli("deploy", "--local", "--yes", "--image", "ghcr.io/o/app:1", check=False)
    assert proc.returncode == 2
    assert "Cloud Run cannot pull from ghcr.io" in proc.stderr
    assert mutating(endpoint) == []
