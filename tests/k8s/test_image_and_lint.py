"""The Dockerfile, compose.yaml and the YAML of k8s/ pass their linters and keep their promises."""

from __future__ import annotations

import os
import re

from tests.support.servers import REPO_ROOT
from tests.support.tools import run, tool

DOCKERFILE = REPO_ROOT / "Dockerfile"


def yamllint(*paths: str):
    return run([tool("yamllint"), "--strict", "-c", ".yamllint.yaml", *paths])


def test_yamllint_is_clean_on_the_deployment_yaml() -> None:
    own = [
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "k8s").iterdir()
        if p.name != "monitoring"
    ]
    proc = yamllint(*own, "compose.yaml", ".yamllint.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint_is_clean_on_the_monitoring_yaml() -> None:
    """Same rules for k8s/monitoring/ (kept apart so a failure names its part)."""
    proc = yamllint("k8s/monitoring")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_is_clean() -> None:
    proc = run([tool("hadolint"), "Dockerfile"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def compose_config(**env: str):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "SNIP_SECRET_KEY")
    }
    return run(
        [
            tool("docker-compose"),
            "--project-directory",
            str(REPO_ROOT),
            "-f",
            "compose.yaml",
            "config",
        ],
        env={**clean, **env},
    )


def test_docker_compose_accepts_compose_yaml() -> None:
    proc = compose_config(
        POSTGRES_PASSWORD="x" * 24, REDIS_PASSWORD="y" * 24, SNIP_SECRET_KEY="z" * 48
    )
    assert proc.returncode == 0, proc.stderr
    for service in ("postgres", "redis", "migrate", "api", "flusher", "prometheus"):
        assert re.search(rf"^  {service}:$", proc.stdout, re.M), f"no service {service}"


def test_compose_has_no_default_password() -> None:
    """Without the passwords set, compose refuses to start rather than use a default."""
    proc = compose_config()
    assert proc.returncode != 0 and "POSTGRES_PASSWORD" in proc.stderr + proc.stdout


def stages() -> dict[str, str]:
    """{stage name: its instructions} of the Dockerfile."""
    out: dict[str, str] = {}
    name = ""
    for line in DOCKERFILE.read_text().splitlines():
        found = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if found:
            name = found.group(1)
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


def test_base_image_is_pinned_to_a_patch_release() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"python:3\.11\.\d+-slim-bookworm", text)
    assert ":latest" not in text


def test_final_stages_run_as_the_unprivileged_user_and_carry_no_compiler() -> None:
    s = stages()
    assert list(s)[-1] == "runtime", "the default build target must be the API image"
    for name in ("runtime", "ops"):
        users = re.findall(r"^USER\s+(\S+)", s[name], re.M)
        assert users and users[-1] == "10001:10001", f"{name} does not end as 10001"
    final = s["base"] + s["runtime"] + s["ops"]
    for compiler in ("gcc", "build-essential", "g++", "make "):
        assert compiler not in final, f"{compiler} in a final stage"
    assert "--no-index" in s["base"], "the final stage must install only the builder's wheels"


def test_runtime_starts_gunicorn_and_never_migrates() -> None:
    runtime = stages()["runtime"]
    assert 'CMD ["gunicorn", "-c", "python:snip.gunicorn_conf", "snip:create_app()"]' in runtime
    assert "db upgrade" not in DOCKERFILE.read_text().split("FROM")[-1]


def test_ops_image_has_the_backup_tools() -> None:
    ops = stages()["ops"]
    assert "postgresql-client-15" in ops
    assert "COPY" in ops and "scripts /opt/snip/scripts" in ops


def test_dockerignore_is_an_allow_list() -> None:
    """Nothing (.env, .venv, instance/) reaches the build unless named."""
    lines = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert set(lines) >= {"!pyproject.toml", "!README.md", "!src/", "!scripts/"}
