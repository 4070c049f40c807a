"""--source packing, ignore files, the generated Dockerfile, container settings, --image."""

from __future__ import annotations

import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from globalguide import container
from globalguide.cloud import python_app
from globalguide.cloud.ignore import DockerIgnore, GcloudIgnore
from globalguide.cloud.source import source_context
from globalguide.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def names(context) -> set[str]:
    with tarfile.open(fileobj=BytesIO(context.data), mode="r:gz") as tar:
        return set(tar.getnames())


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_gcloudignore_has_gitignore_semantics():
    rules = GcloudIgnore(GcloudIgnore._parse("*.log\n/build\ncache/\n!keep.log\n", Path("."), 0))
    assert rules.ignored("a/b/x.log", is_dir=False)  # no slash: any depth
    assert not rules.ignored("a/keep.log", is_dir=False)  # re-included
    assert rules.ignored("build", is_dir=True) and not rules.ignored("a/build", is_dir=True)
    assert rules.ignored("a/cache", is_dir=True) and not rules.ignored("a/cache", is_dir=False)


def test_dockerignore_matches_from_the_root_and_excludes_directory_contents(tmp_path):
    write(tmp_path, {".dockerignore": "*.pyc\ndocs\n!docs/keep.md\n"})
    rules = DockerIgnore.for_dir(tmp_path)
    assert rules.ignored("x.pyc") and not rules.ignored("pkg/x.pyc")  # root only
    assert rules.ignored("docs/a.md") and not rules.ignored("docs/keep.md")
    assert not rules.ignored("Dockerfile") and not rules.ignored(".dockerignore")


def test_without_a_gcloudignore_a_git_directory_gets_the_default(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM python:3.12\n", ".gitignore": "secret.txt\n",
                     "secret.txt": "x", "app.py": "app = 1\n", ".git/config": ""})  # fmt: skip
    assert names(source_context(tmp_path)) == {"Dockerfile", "app.py"}


def test_the_tag_is_a_content_hash_honouring_both_ignore_files(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM python:3.12\n", "app.py": "app = 1\n",
                     ".gcloudignore": "notes/\n", ".dockerignore": "*.tmp\n"})  # fmt: skip
    first = source_context(tmp_path)
    write(tmp_path, {"notes/todo.md": "later", "scratch.tmp": "x"})
    assert source_context(tmp_path).tag == first.tag  # ignored files change nothing
    write(tmp_path, {"app.py": "app = 2\n"})
    assert source_context(tmp_path).tag != first.tag


def test_a_python_directory_gets_a_pinned_generated_dockerfile(tmp_path):
    write(
        tmp_path,
        {
            "requirements.txt": "fastapi\n",
            "main.py": "from fastapi import FastAPI\napp = FastAPI()\n",
        },
    )  # noqa: E501
    generated = source_context(tmp_path).generated_dockerfile
    assert f"FROM {python_app.BASE_IMAGE}" in generated
    assert "uvicorn main:app" in generated and "requirements.txt uvicorn" in generated
    service_from = (ROOT / "service" / "Dockerfile").read_text()
    assert f"FROM {python_app.BASE_IMAGE}\n" in service_from  # the same pinned base


def test_a_procfile_web_line_is_the_command(tmp_path):
    write(tmp_path, {"requirements.txt": "flask\n", "Procfile": "web: gunicorn -b :$PORT w:app\n"})
    assert "CMD gunicorn -b :$PORT w:app" in python_app.dockerfile_for(tmp_path)


def test_a_directory_with_nothing_to_build_is_a_usage_error(tmp_path):
    write(tmp_path, {"README.md": "hi"})
    with pytest.raises(UsageError, match="no Dockerfile"):
        source_context(tmp_path)


@pytest.mark.parametrize("name", ["PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"])
def test_reserved_env_names_are_refused(name):
    with pytest.raises(UsageError, match=f"Cloud Run sets {name} itself"):
        container.check_env({name: "1"})


@pytest.mark.parametrize(
    "cpu, memory, concurrency, ok",
    [("1", "512Mi", 80, True), ("0.5", "512Mi", 1, True), ("0.5", "512Mi", 80, False),
     ("3", "512Mi", 80, False), ("1", "8Gi", 80, False), ("4", "1Gi", 80, False),
     ("4", "2Gi", 80, True), ("2", "64Mi", 80, False)],
)  # fmt: skip
def test_cpu_and_memory_follow_cloud_runs_table(cpu, memory, concurrency, ok):
    if ok:
        container.check_resources(cpu, memory, concurrency)
    else:
        with pytest.raises(UsageError):
            container.check_resources(cpu, memory, concurrency)


@pytest.mark.parametrize(
    "image, ok",
    [("us-central1-docker.pkg.dev/p/r/app:1", True), ("gcr.io/p/app", True),
     ("eu.gcr.io/p/app@sha256:" + "a" * 64, True), ("nginx", True), ("me/app:2", True),
     ("docker.io/library/python:3.12", True), ("ghcr.io/o/app:1", False),
     ("quay.io/o/app", False), ("us-central1-docker.pkg.dev/app", False), ("Bad Name", False)],
)  # fmt: skip
def test_only_images_cloud_run_can_pull_are_accepted(image, ok):
    if ok:
        container.check_image(image)
    else:
        with pytest.raises(UsageError):
            container.check_image(image)


def test_probe_measures_a_service_that_names_no_region_and_calls_it_unknown():
    import http.server
    import threading

    from globalguide import geo, probe

    class Plain(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Plain)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        city = geo.city_at(35.68, 139.69)
        result = probe.probe_from_here(url, city, via=probe.VIA_EDGE, count=2, stream=False)
    finally:
        server.shutdown()
    assert result.status == "ok"
    assert result.served_from_region is None
    assert all(s.total_ms is not None and s.served_from_region is None for s in result.samples)
