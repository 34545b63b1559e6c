"""Every container that runs snip gets an environment snip accepts.

The manifests and the application meet here: this builds each container's
environment exactly as Kubernetes would (ConfigMap envFrom, env values, Secret
references filled with real-looking secrets) and hands it to snip's own
configuration check, the one that stops a pod at start-up with a named variable.
"""

from __future__ import annotations

import copy

import pytest

from snip.config import ConfigError, load_settings, number, require_web_secret
from tests.k8s.conftest import containers, ident, pod_template, workloads

APP_IMAGE = "ghcr.io/snip-project/snip:"
# What an operator puts in the Secret (k8s/security/secrets.yaml holds placeholders).
FILLED_SECRET = {
    "DATABASE_URL": "postgresql://snip_app:s3cret-db@snip-postgres:5432/snip",
    "MIGRATION_DATABASE_URL": "postgresql://snip_migrator:s3cret-mig@snip-postgres:5432/snip",
    "REDIS_URL": "redis://:s3cret-redis@snip-redis:6379/0",
    "POSTGRES_PASSWORD": "s3cret-db",
    "REDIS_PASSWORD": "s3cret-redis",
    "SNIP_SECRET_KEY": "k" * 48,
}


def config_map(objects: list[dict], name: str) -> dict[str, str]:
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == name:
            return obj.get("data", {})
    raise AssertionError(f"ConfigMap {name} is referenced but not rendered")


def container_env(objects: list[dict], container: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_map(objects, source["configMapRef"]["name"]))
        if "secretRef" in source:
            env.update(FILLED_SECRET)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            key = item["valueFrom"]["secretKeyRef"]["key"]
            assert key in FILLED_SECRET, f"unknown secret key {key}"
            env[item["name"]] = FILLED_SECRET[key]
        elif "configMapKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["configMapKeyRef"]
            env[item["name"]] = config_map(objects, ref["name"])[ref["key"]]
    return env


def snip_containers(objects: list[dict]) -> list[tuple[str, dict]]:
    found = []
    for workload in workloads(objects):
        for container in containers(pod_template(workload)["spec"]):
            if container["image"].startswith(APP_IMAGE):
                found.append((f"{ident(workload)}/{container['name']}", container))
    return found


def test_the_root_build_runs_snip_in_every_expected_role(root):
    names = {name.split("/")[1] for name, _ in snip_containers(root.objects)}
    assert {"snip-api", "snip-flusher", "snip-purge-expired"} <= names


def configuration_problems(objects: list[dict]) -> list[str]:
    """What snip's start-up check says about each snip container's environment."""
    problems = []
    for name, container in snip_containers(objects):
        env = container_env(objects, container)
        try:
            settings = load_settings(env)
            if name.endswith("/api"):
                # what gunicorn_conf.py checks on top, for the web server
                require_web_secret(settings)
                number(env, "PORT", 8000, 1, 65535)
                number(env, "WEB_CONCURRENCY", 2, 1, 64)
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
    return problems


@pytest.mark.parametrize("variant", ["k8s", "k8s/overlays/local", "k8s/overlays/production"])
def test_every_snip_container_gets_a_configuration_snip_accepts(renderings, variant):
    problems = configuration_problems(renderings[variant].objects)
    assert problems == [], "\n".join(problems)


def test_this_check_catches_a_container_without_redis(renderings):
    """The production rendering with REDIS_URL taken out of the API container's env:
    the same check must name that container and the variable."""
    objects = copy.deepcopy(renderings["k8s/overlays/production"].objects)
    api = next(c for name, c in snip_containers(objects) if name.startswith("Deployment/snip-api/"))
    before = len(api["env"])
    api["env"] = [item for item in api["env"] if item["name"] != "REDIS_URL"]
    assert len(api["env"]) == before - 1, "the API container no longer sets REDIS_URL in env"
    problems = configuration_problems(objects)
    assert len(problems) == 1, problems
    assert problems[0].startswith("Deployment/snip-api/") and "REDIS_URL" in problems[0]


def test_the_web_server_refuses_production_without_a_session_secret():
    env = {
        "SNIP_ENV": "production",
        "SNIP_BASE_URL": "https://s.example",
        "DATABASE_URL": FILLED_SECRET["DATABASE_URL"],
        "REDIS_URL": FILLED_SECRET["REDIS_URL"],
    }
    with pytest.raises(ConfigError, match="SNIP_SECRET_KEY"):
        require_web_secret(load_settings(env))
    with pytest.raises(ConfigError, match="SNIP_SECRET_KEY"):
        load_settings({**env, "SNIP_SECRET_KEY": "CHANGE_ME"})
