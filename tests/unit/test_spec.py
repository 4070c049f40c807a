"""DeploySpec: precedence of flags, environment and settings file, and bad input."""

from __future__ import annotations

import pytest

from globalguide.errors import UsageError
from globalguide.spec import build_spec, gcloud_project


def spec(flags=None, env=None, toml=None, tmp_path=None, local=False, local_project=None):
    path = tmp_path / "globalguide.toml"
    if toml is not None:
        path.write_text(toml)
    return build_spec(
        flags or {}, local=local, local_project=local_project, env=env or {}, settings_path=path
    )


def test_defaults(tmp_path):
    s = spec({"project": "my-project-1"}, tmp_path=tmp_path)
    assert s.name == "local-guide"
    assert s.regions == ("us-central1", "europe-west1", "asia-northeast1")
    assert s.model.startswith("gemini-")


def test_flags_beat_environment_beat_file(tmp_path):
    toml = '[deploy]\nname = "from-file"\nregions = ["us-east1"]\nproject = "file-project"\n'
    s = spec(
        {},
        env={"GOOGLE_CLOUD_PROJECT": "env-project", "GLOBALGUIDE_NAME": "from-env"},
        toml=toml,
        tmp_path=tmp_path,
    )
    assert (s.project, s.name, s.regions) == ("env-project", "from-env", ("us-east1",))
    s = spec(
        {"project": "flag-project", "name": "from-flag", "regions": "asia-south1"},
        env={"GOOGLE_CLOUD_PROJECT": "env-project"},
        toml=toml,
        tmp_path=tmp_path,
    )
    assert (s.project, s.name, s.regions) == ("flag-project", "from-flag", ("asia-south1",))


def test_project_from_gcloud_configuration(tmp_path):
    config = tmp_path / "gcloud"
    (config / "configurations").mkdir(parents=True)
    (config / "active_config").write_text("work")
    (config / "configurations" / "config_work").write_text("[core]\nproject = gcloud-proj\n")
    env = {"CLOUDSDK_CONFIG": str(config)}
    assert gcloud_project(env) == "gcloud-proj"
    assert spec({}, env=env, tmp_path=tmp_path).project == "gcloud-proj"


@pytest.mark.parametrize(
    "flags, fragment",
    [
        ({}, "No project"),
        ({"project": "p-1234", "name": "Bad_Name"}, "Invalid name"),
        ({"project": "p-1234", "name": "x" * 30}, "Invalid name"),
        ({"project": "p-1234", "regions": "mars-north1"}, "unknown region"),
        ({"project": "p-1234", "regions": "us-central1,us-central1"}, "twice"),
        ({"project": "p-1234", "min_instances": 5, "max_instances": 2}, "more than"),
        ({"project": "p-1234", "concurrency": 0}, "concurrency"),
        ({"project": "p-1234", "domain": "not a domain"}, "Invalid domain"),
        ({"project": "UPPER"}, "Invalid project"),
    ],
)
def test_bad_input_is_a_usage_error(tmp_path, flags, fragment):
    with pytest.raises(UsageError) as info:
        spec(flags, tmp_path=tmp_path)
    assert fragment.lower() in info.value.message.lower()
    assert info.value.exit_code == 2


def test_settings_file_errors_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not valid TOML"):
        spec({"project": "p-1234"}, toml="name = [", tmp_path=tmp_path)
    with pytest.raises(UsageError, match="unknown setting"):
        spec({"project": "p-1234"}, toml='colour = "red"', tmp_path=tmp_path)
    with pytest.raises(UsageError, match="whole number"):
        spec({"project": "p-1234"}, toml='max_instances = "lots"', tmp_path=tmp_path)


def test_local_uses_the_emulator_project(tmp_path):
    s = spec(
        {},
        env={"GOOGLE_CLOUD_PROJECT": "real-project"},
        tmp_path=tmp_path,
        local=True,
        local_project="globalguide-local",
    )
    assert s.project == "globalguide-local"
    with pytest.raises(UsageError, match="does not match"):
        spec(
            {"project": "other-project"},
            tmp_path=tmp_path,
            local=True,
            local_project="globalguide-local",
        )
