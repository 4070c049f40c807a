"""The image store and its Dockerfile interpreter."""

from __future__ import annotations

import io
import sys
import tarfile

import pytest

from globalguide.emulator.images import ImageBuildError, ImageStore
from globalguide.emulator.images import context as context_module
from globalguide.emulator.images.dockerfile import parse_dockerfile
from tests.emulator.fakes import tarball


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_a_service_like_dockerfile(store):
    dockerfile = b"""# syntax=docker/dockerfile:1
ARG PY=3.12
FROM --platform=linux/amd64 python:${PY}-slim AS runtime
ARG APP_HOME=/app
ENV PIP_NO_CACHE_DIR=1 \\
    GREETING="hello world"
ENV LEGACY value with spaces
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt \\
    && rm /tmp/requirements.txt
WORKDIR ${APP_HOME}
COPY --chown=app:app . ./service
LABEL org.opencontainers.image.title="guide"
USER 10001
EXPOSE 8080
HEALTHCHECK NONE
CMD ["python", "-m", "service"]
"""
    context = tarball(
        {
            "./Dockerfile": dockerfile,
            "./requirements.txt": b"flask\n",
            "./.dockerignore": b"__pycache__/\n*.pyc\n!keep.pyc\nDockerfile\n.dockerignore\n",
            "./app.py": b"app = 1\n",
            "./keep.pyc": b"x",
            "./drop.pyc": b"x",
            "./__pycache__/app.cpython-312.pyc": b"x",
            "./pkg/mod.py": b"y = 2\n",
        }
    )
    image = store.build(context)
    assert image.base == "python:3.12-slim"
    assert image.cmd == ["python", "-m", "service"]
    assert image.workdir == "/app"
    assert image.user == "10001"
    assert image.exposed_ports == ["8080"]
    assert image.env == {
        "PIP_NO_CACHE_DIR": "1",
        "GREETING": "hello world",
        "LEGACY": "value with spaces",
    }
    assert image.labels == {"org.opencontainers.image.title": "guide"}
    assert image.runs == ["pip install -r /tmp/requirements.txt  && rm /tmp/requirements.txt"]
    files = sorted(
        p.relative_to(image.root).as_posix() for p in image.root.rglob("*") if p.is_file()
    )
    # RUN pip install made the image's own environment (run_steps); the rest is COPY.
    assert "usr/local/pyvenv.cfg" in files
    files = [f for f in files if not f.startswith("usr/local/")]
    assert files == [
        "app/service/app.py",
        "app/service/keep.pyc",
        "app/service/pkg/mod.py",
        "app/service/requirements.txt",
        "tmp/requirements.txt",
    ]
    assert image.argv("/opt/python") == ["/opt/python", "-m", "service"]
    assert image.argv() == [sys.executable, "-m", "service"]
    assert image.workdir == "/app" and (image.root / "app").is_dir()
    assert store.get(image.digest) == image


def test_digests_are_content_addressed(store):
    one = store.build(tarball({"Dockerfile": b'FROM x\nCOPY a /a\nCMD ["a"]\n', "a": b"1"}))
    same = store.build(tarball({"a": b"1", "Dockerfile": b'FROM x\nCOPY a /a\nCMD ["a"]\n'}))
    other = store.build(tarball({"Dockerfile": b'FROM x\nCOPY a /a\nCMD ["a"]\n', "a": b"2"}))
    assert one.digest == same.digest != other.digest
    stored = {"sha256:" + p.name for p in store.root.iterdir() if (p / "image.json").is_file()}
    assert stored == {one.digest, other.digest}
    assert store.delete(one.digest)
    assert store.get(one.digest) is None
    assert store.get("sha256:nothex") is None


def test_entrypoint_and_cmd_combine_as_docker_does(store):
    exec_form = store.build(
        tarball({"Dockerfile": b'FROM x\nENTRYPOINT ["gunicorn"]\nCMD ["-b", ":8080"]\n'})
    )
    assert exec_form.cmd == ["gunicorn", "-b", ":8080"]
    shell_form = store.build(tarball({"Dockerfile": b"FROM x\nCMD gunicorn -b :$PORT app:app\n"}))
    assert shell_form.cmd == ["/bin/sh", "-c", "gunicorn -b :$PORT app:app"]
    shell_entry = store.build(
        tarball({"Dockerfile": b'FROM x\nENTRYPOINT exec serve\nCMD ["x"]\n'})
    )
    assert shell_entry.cmd == ["/bin/sh", "-c", "exec serve"]


def test_copy_rules(store):
    context = tarball(
        {
            "Dockerfile": b"FROM x\nWORKDIR /srv\nCOPY a.txt b.txt conf/\nCOPY *.md docs/\n"
            b'COPY a.txt renamed.txt\nCOPY dir /opt/dir\nCMD ["x"]\n',
            "a.txt": b"a",
            "b.txt": b"b",
            "one.md": b"1",
            "two.md": b"2",
            "dir/inner/f": b"f",
        }
    )
    image = store.build(context)
    root = image.root
    assert (root / "srv/conf/a.txt").read_bytes() == b"a"
    assert (root / "srv/conf/b.txt").read_bytes() == b"b"
    assert sorted(p.name for p in (root / "srv/docs").iterdir()) == ["one.md", "two.md"]
    assert (root / "srv/renamed.txt").read_bytes() == b"a"
    assert (root / "opt/dir/inner/f").read_bytes() == b"f"


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (b'FROM a\nSHELL ["/bin/bash"]\nCMD x\n', "line 2: SHELL is not supported"),
        (b"FROM a\nONBUILD RUN x\nCMD x\n", "ONBUILD is not supported"),
        (b"FROM a AS b\nFROM b\nCMD x\n", "multi-stage builds are not supported"),
        (b"FROM a\nCOPY --from=b /x /x\nCMD x\n", "COPY --from is not supported"),
        (b"FROM a\nADD https://example.com/x /x\nCMD x\n", "ADD from a URL is not supported"),
        (b"FROM a\nCOPY missing /x\nCMD x\n", "file not found in build context"),
        (b"FROM a\nCOPY ../outside /x\nCMD x\n", "outside the build context"),
        (b"FROM a\nCOPY f g h\nCMD x\n", "the destination must be a directory and end with a /"),
        (b"WORKDIR /x\nFROM a\n", "the first instruction must be FROM"),
        (b"FROM a\nRUN true\n", "no CMD or ENTRYPOINT"),
        (b"", "cannot be empty"),
    ],
)
def test_unsupported_or_broken_dockerfiles_fail_clearly(store, dockerfile, message):
    with pytest.raises(ImageBuildError, match=message):
        store.build(tarball({"Dockerfile": dockerfile, "f": b"", "g": b""}))


def test_a_custom_dockerfile_name_and_build_args(store):
    context = tarball(
        {"build/Dockerfile.prod": b'FROM x\nARG MODE=dev\nENV MODE=$MODE\nCMD ["x"]\n'}
    )
    image = store.build(context, "build/Dockerfile.prod", {"MODE": "prod"})
    assert image.env == {"MODE": "prod"}
    with pytest.raises(ImageBuildError, match="failed to read dockerfile"):
        store.build(context)


def _raw_tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(name, kind=tarfile.REGTYPE, size=0, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ((_info("/etc/passwd", size=1), b"x"), "absolute path"),
        ((_info("../escape", size=1), b"x"), "leaves the context"),
        ((_info("a/../../escape", size=1), b"x"), "leaves the context"),
        ((_info("link", tarfile.SYMTYPE, linkname="/etc/passwd"), None), "absolute path"),
        ((_info("d/link", tarfile.SYMTYPE, linkname="../../etc"), None), "leaves the context"),
        ((_info("hard", tarfile.LNKTYPE, linkname="../x"), None), "leaves the context"),
    ],
)
def test_unsafe_contexts_are_refused(store, entry, message):
    with pytest.raises(ImageBuildError, match=message):
        store.build(_raw_tar([entry]))
    assert not any((store.root / ".tmp").glob("*/context/etc"))


def test_contexts_are_bounded(store, monkeypatch):
    monkeypatch.setattr(context_module, "MAX_CONTEXT_BYTES", 100)
    with pytest.raises(ImageBuildError, match="larger than"):
        store.build(tarball({"Dockerfile": b"FROM x\nCMD x\n", "big": b"x" * 200}))
    monkeypatch.setattr(context_module, "MAX_CONTEXT_FILES", 2)
    with pytest.raises(ImageBuildError, match="more than 2 entries"):
        store.build(tarball({"a": b"", "b": b"", "c": b""}))
    with pytest.raises(ImageBuildError, match="not a gzipped tarball"):
        store.build(b"plain bytes")


def test_inner_symlinks_are_kept(store):
    context = _raw_tar(
        [
            (_info("Dockerfile", size=27), b'FROM x\nCOPY . /app\nCMD ["x"]'),
            (_info("real.txt", size=1), b"r"),
            (_info("alias.txt", tarfile.SYMTYPE, linkname="real.txt"), None),
        ]
    )
    image = store.build(context)
    assert (image.root / "app/alias.txt").is_symlink()
    assert (image.root / "app/alias.txt").read_bytes() == b"r"


def test_parser_joins_continuations_and_skips_comments():
    parsed = parse_dockerfile("FROM a\nRUN one \\\n  # a comment\n  two\n\n# end\nCMD x\n")
    assert [(i.keyword, i.rest) for i in parsed] == [
        ("FROM", "a"),
        ("RUN", "one  two"),
        ("CMD", "x"),
    ]
