"""Our own rules for every rendered manifest (CONTRIBUTING.md, "Conventions": Kubernetes).

checkov covers many of these too; these tests state the rules the project
promises in its own words, on every rendering (root, overlays, combinations),
and name the object that breaks one.
"""

from __future__ import annotations

import base64
import re

from tests.k8s.conftest import (
    LONG_RUNNING,
    Rendering,
    containers,
    ident,
    pod_template,
    workloads,
)
from tests.support.servers import REPO_ROOT

GUNICORN_CONF = REPO_ROOT / "src" / "snip" / "gunicorn_conf.py"
RESOURCES = ("cpu", "memory", "ephemeral-storage")
PLACEHOLDER = "CHANGE_ME"
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
)


def each_container(renderings: dict[str, Rendering]):
    for name, r in renderings.items():
        for obj in workloads(r.objects):
            spec = pod_template(obj)["spec"]
            for c in containers(spec):
                yield name, obj, spec, c


def test_every_container_has_requests_and_limits(renderings: dict[str, Rendering]) -> None:
    problems = []
    for name, obj, _, c in each_container(renderings):
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            missing = [r for r in RESOURCES if r not in (res.get(kind) or {})]
            if missing:
                problems.append(f"{name} {ident(obj)} {c['name']}: no {kind} for {missing}")
    assert not problems, "\n".join(problems)


def test_every_container_runs_with_the_restricted_security_context(
    renderings: dict[str, Rendering],
) -> None:
    """Pod Security "restricted", plus a read-only root filesystem."""
    problems = []
    for name, obj, spec, c in each_container(renderings):
        pod_sc = spec.get("securityContext") or {}
        sc = c.get("securityContext") or {}
        where = f"{name} {ident(obj)} {c['name']}"
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{where}: runAsNonRoot is not true")
        if (sc.get("runAsUser", pod_sc.get("runAsUser")) or 1) == 0:
            problems.append(f"{where}: runs as uid 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{where}: capabilities.drop lacks ALL")
        if ((sc.get("capabilities") or {}).get("add") or []) not in ([], ["NET_BIND_SERVICE"]):
            problems.append(f"{where}: adds capabilities")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile is {seccomp!r}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(host):
                problems.append(f"{where}: {host}")
    assert not problems, "\n".join(problems)


def test_long_running_workloads_have_probes(renderings: dict[str, Rendering]) -> None:
    problems = []
    for name, obj, spec, c in each_container(renderings):
        if obj["kind"] not in LONG_RUNNING or c in spec.get("initContainers", []):
            continue
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c:
                problems.append(f"{name} {ident(obj)} {c['name']}: no {probe}")
    assert not problems, "\n".join(problems)


def test_images_are_pinned_to_a_version(renderings: dict[str, Rendering]) -> None:
    problems = []
    for name, obj, _, c in each_container(renderings):
        image = c["image"]
        if "@sha256:" in image:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest" or not re.search(r"\d", tag):
            problems.append(f"{name} {ident(obj)} {c['name']}: image {image!r} is not pinned")
    assert not problems, "\n".join(problems)


def test_workloads_carry_the_recommended_labels(renderings: dict[str, Rendering]) -> None:
    problems = []
    for name, r in renderings.items():
        for obj in workloads(r.objects):
            labels = pod_template(obj)["metadata"].get("labels") or {}
            missing = [k for k in RECOMMENDED_LABELS if k not in labels]
            if missing:
                problems.append(f"{name} {ident(obj)}: pod labels lack {missing}")
    assert not problems, "\n".join(problems)


def test_one_service_account_per_workload_and_tokens_only_where_rbac_needs_them(
    renderings: dict[str, Rendering],
) -> None:
    """No pod uses `default`; no two workloads share an account; a token is mounted
    only into pods whose account some RoleBinding or ClusterRoleBinding names."""
    problems = []
    for name, r in renderings.items():
        bound = {
            s["name"]
            for o in r.objects
            if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
            for s in o.get("subjects") or []
            if s.get("kind") == "ServiceAccount"
        }
        accounts = {o["metadata"]["name"]: o for o in r.objects if o["kind"] == "ServiceAccount"}
        users: dict[str, str] = {}
        for obj in workloads(r.objects):
            spec = pod_template(obj)["spec"]
            sa = spec.get("serviceAccountName", "default")
            if sa == "default":
                problems.append(f"{name} {ident(obj)}: uses the default ServiceAccount")
            elif sa not in accounts:
                problems.append(f"{name} {ident(obj)}: ServiceAccount {sa} is not rendered")
            if sa in users:
                problems.append(f"{name} {ident(obj)}: shares {sa} with {users[sa]}")
            users[sa] = ident(obj)
            automount = spec.get(
                "automountServiceAccountToken",
                (accounts.get(sa) or {}).get("automountServiceAccountToken", True),
            )
            if automount and sa not in bound:
                problems.append(f"{name} {ident(obj)}: mounts a token it has no use for")
    assert not problems, "\n".join(problems)


def test_every_namespaced_object_names_its_namespace(renderings: dict[str, Rendering]) -> None:
    """`kubectl apply -f k8s/<file>` must not land objects in `default`."""
    cluster_scoped = {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
        "StorageClass",
        "CustomResourceDefinition",
        "PriorityClass",
    }
    problems = [
        f"{name} {ident(o)}"
        for name, r in renderings.items()
        for o in r.objects
        if o["kind"] not in cluster_scoped and o["metadata"].get("namespace") != "snip"
    ]
    assert not problems, "not in namespace snip:\n" + "\n".join(problems)


def test_the_namespace_enforces_restricted_pod_security(root: Rendering) -> None:
    labels = root.find("Namespace", "snip")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_no_secret_in_git_holds_a_real_value(renderings: dict[str, Rendering]) -> None:
    """Every value of every rendered Secret is, or contains, the CHANGE_ME placeholder."""
    problems = []
    for name, r in renderings.items():
        for o in (o for o in r.objects if o["kind"] == "Secret"):
            values = dict(o.get("stringData") or {})
            for key, raw in (o.get("data") or {}).items():
                values[key] = base64.b64decode(raw).decode(errors="replace")
            assert values, f"{name} {ident(o)} has no values to check"
            for key, value in values.items():
                if PLACEHOLDER not in value:
                    problems.append(f"{name} {ident(o)} {key}: not a placeholder")
    assert not problems, "\n".join(problems)


def test_no_rendering_ships_the_placeholder_secret(renderings: dict[str, Rendering]) -> None:
    """`kubectl apply -k` on the tree, an overlay or any combination (and a GitOps sync of
    it) must not overwrite the cluster's real Secret with CHANGE_ME (issue 9: the base
    did). The template k8s/security/secrets.yaml is applied only by hand, filled in."""
    assert renderings
    for name, r in renderings.items():
        assert not [o for o in r.objects if o["kind"] == "Secret"], name
        assert PLACEHOLDER not in r.text, name


def test_the_secret_template_holds_only_placeholders() -> None:
    from tests.k8s.conftest import K8S, load_yaml_files

    path = K8S / "security" / "secrets.yaml"
    secrets = load_yaml_files([path])[str(path)]
    # snip-secrets (the app), snip-backup-s3 (object store and cipher key),
    # snip-pgbackrest-tls (pgBackRest's TLS server and its client).
    assert {s["metadata"]["name"] for s in secrets} == {
        "snip-secrets",
        "snip-backup-s3",
        "snip-pgbackrest-tls",
    }
    for secret in secrets:
        assert secret["kind"] == "Secret"
        assert all(PLACEHOLDER in v for v in secret["stringData"].values())


def test_network_policies_deny_by_default_and_never_reopen_everything(
    renderings: dict[str, Rendering],
) -> None:
    for name, r in renderings.items():
        policies = [o for o in r.objects if o["kind"] == "NetworkPolicy"]
        deny = [
            p
            for p in policies
            if p["spec"].get("podSelector") in ({}, None)
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert deny, f"{name}: no default-deny NetworkPolicy"
        for p in policies:
            for direction in ("ingress", "egress"):
                for rule in p["spec"].get(direction) or []:
                    peers = rule.get("from" if direction == "ingress" else "to")
                    # `- {}` (no peers, no ports) re-opens everything. A rule
                    # with ports only (any peer on those ports) is allowed for
                    # egress, e.g. Alertmanager to notification services.
                    assert peers or rule.get("ports"), (
                        f"{name} {ident(p)}: an empty {direction} rule allows everything"
                    )
                    assert peers or direction == "egress", (
                        f"{name} {ident(p)}: an ingress rule open to every peer"
                    )


def test_every_workload_is_selected_by_an_allow_policy(renderings: dict[str, Rendering]) -> None:
    """With default deny, a pod no allow policy selects can reach nothing but DNS."""
    for name, r in renderings.items():
        policies = [
            o["spec"]["podSelector"]
            for o in r.objects
            if o["kind"] == "NetworkPolicy" and o["spec"].get("podSelector")
        ]
        for obj in workloads(r.objects):
            labels = pod_template(obj)["metadata"]["labels"]
            assert any(selects(sel, labels) for sel in policies), f"{name} {ident(obj)}"


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


# ------------------------------------------------------------ the API itself


def test_the_api_rolls_out_without_losing_capacity(root: Rendering) -> None:
    api = root.find("Deployment", "snip-api")
    spec = api["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["revisionHistoryLimit"] >= 3, "rollbacks need old ReplicaSets"
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = re.search(r"^graceful_timeout = (\d+)", GUNICORN_CONF.read_text(), re.M)
    assert graceful, "src/snip/gunicorn_conf.py sets no graceful_timeout"
    assert pod["terminationGracePeriodSeconds"] >= pause + int(graceful.group(1)) + 5, (
        "SIGKILL would cut gunicorn's graceful stop short"
    )
    assert pod["topologySpreadConstraints"], "replicas are not spread over nodes"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Writable places only: /tmp, and the click log where the ConfigMap points the app.
    config = next(
        cm["data"] for cm in root.objects
        if cm["kind"] == "ConfigMap" and cm["metadata"]["name"].startswith("snip-config")
    )  # fmt: skip
    assert {v["mountPath"] for v in c["volumeMounts"]} == {"/tmp", config["SNIP_CLICK_LOG_DIR"]}
    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8081"  # the metrics port
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_autoscaler_and_budget_keep_two_pods(root: Rendering) -> None:
    hpa = root.find("HorizontalPodAutoscaler", "snip-api")
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["minReplicas"] >= 2
    pdb = root.find("PodDisruptionBudget", "snip-api")
    assert pdb["apiVersion"] == "policy/v1"


def test_metrics_are_not_public(renderings: dict[str, Rendering]) -> None:
    """Every Ingress host that routes to the API denies /metrics to every source."""
    for name, r in renderings.items():
        ingresses = [o for o in r.objects if o["kind"] == "Ingress"]
        hosts = {rule["host"] for i in ingresses for rule in i["spec"]["rules"]}
        blocked = {
            rule["host"]
            for i in ingresses
            if "0.0.0.0/0"
            in (i["metadata"].get("annotations") or {}).get(
                "nginx.ingress.kubernetes.io/denylist-source-range", ""
            )
            for rule in i["spec"]["rules"]
            for p in rule["http"]["paths"]
            if p["path"] == "/metrics" and p["pathType"] == "Exact"
        }
        assert hosts and hosts == blocked, f"{name}: /metrics public on {hosts - blocked}"


def test_base_url_matches_the_ingress_host(renderings: dict[str, Rendering]) -> None:
    for name, r in renderings.items():
        base = r.find("ConfigMap", "snip-config")["data"]["SNIP_BASE_URL"]
        host = r.find("Ingress", "snip")["spec"]["rules"][0]["host"]
        assert re.fullmatch(rf"https?://{re.escape(host)}/?", base), f"{name}: {base} vs {host}"


# --------------------------------------------------------------- data stores


def test_redis_can_never_evict_click_data_and_persists_it(root: Rendering) -> None:
    conf = root.find("ConfigMap", "snip-redis-config")["data"]["redis.conf"]
    settings = dict(
        line.split(None, 1)
        for line in conf.splitlines()
        if line.strip() and not line.startswith("#")
    )
    # Click keys never have a TTL: only these policies leave them alone.
    assert settings["maxmemory-policy"] in (
        "volatile-lru",
        "volatile-lfu",
        "volatile-ttl",
        "noeviction",
    )
    assert settings["appendonly"] == "yes"
    maxmemory_mb = int(settings["maxmemory"].removesuffix("mb"))
    redis = root.find("StatefulSet", "snip-redis")["spec"]["template"]["spec"]
    limit = redis["containers"][0]["resources"]["limits"]["memory"]
    assert limit.endswith("Mi") and int(limit[:-2]) > maxmemory_mb * 1.2, "no room for the AOF fork"
    mounts = {v["mountPath"] for v in redis["containers"][0]["volumeMounts"]}
    assert settings["dir"] in mounts
    claim = next(v for v in redis["volumes"] if v["name"] == "data")["persistentVolumeClaim"]
    assert claim["claimName"] == "snip-redis-data"


def test_postgres_is_15_and_the_backup_client_matches(root: Rendering) -> None:
    pg = root.find("StatefulSet", "snip-postgres")["spec"]["template"]["spec"]["containers"][0]
    # The image is the Dockerfile's `postgres` stage: the official PostgreSQL 15
    # image plus pgBackRest (archive_command and the TLS-server sidecar).
    assert re.fullmatch(r"ghcr\.io/snip-project/snip-postgres:[\w.-]+", pg["image"])
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    stage = re.search(r"^FROM (\S+) AS postgres$(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S)
    assert stage, "no `postgres` stage in the Dockerfile"
    assert re.fullmatch(r"postgres:15\.\d+-bookworm", stage.group(1))
    assert "pgbackrest" in stage.group(2)
    assert "pg_isready" in pg["readinessProbe"]["exec"]["command"]
    assert "postgresql-client-15" in dockerfile


def test_snip_images_carry_the_package_version(renderings: dict[str, Rendering]) -> None:
    """A release bumps pyproject.toml and the manifests together."""
    version = re.search(
        r'^version = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text(), re.M
    ).group(1)
    for name, obj, _, c in each_container(renderings):
        if c["image"].startswith("ghcr.io/snip-project/"):
            assert c["image"].endswith(f":{version}"), f"{name} {ident(obj)}: {c['image']}"


# ------------------------------------------------------------ managed database


def test_managed_postgres_removes_the_database_and_rewires_every_client(
    renderings: dict[str, Rendering],
) -> None:
    """With components/managed-postgres: no in-cluster database, snip-postgres is an
    alias of the external host, and every egress to 5432 (and only that) goes to the
    external address range. Its JSON patch replaces egress rule 0 by position, so
    this also catches a policy whose rule 0 stops being the PostgreSQL one."""
    combos = {n: r for n, r in renderings.items() if n.endswith("+managed-postgres")}
    assert combos, "no rendering includes the managed-postgres component"
    for name, r in combos.items():
        kinds = {(o["kind"], o["metadata"]["name"]) for o in r.objects}
        assert ("StatefulSet", "snip-postgres") not in kinds
        assert ("PersistentVolumeClaim", "snip-postgres-data") not in kinds
        assert r.find("Service", "snip-postgres")["spec"]["type"] == "ExternalName"
        for p in (o for o in r.objects if o["kind"] == "NetworkPolicy"):
            for rule in p["spec"].get("egress") or []:
                ports = {port.get("port") for port in rule.get("ports") or []}
                external = any("ipBlock" in peer for peer in rule.get("to") or [])
                if 5432 in ports:
                    assert external, f"{name} {ident(p)}: 5432 still goes to in-cluster pods"
                if external:
                    assert ports == {5432}, f"{name} {ident(p)}: ipBlock rule is not PostgreSQL's"


def test_config_map_sets_only_variables_the_contract_defines(
    renderings: dict[str, Rendering],
) -> None:
    """A misspelt key (SNIP_RATE_LIMIT_WRITE) would be ignored silently by the app."""
    contract = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    defined = set(re.findall(r"^\| `([A-Z_]+)` \|", contract, re.M))
    assert "DATABASE_URL" in defined, "cannot read the variable table of docs/interfaces.md"
    for name, r in renderings.items():
        keys = set(r.find("ConfigMap", "snip-config")["data"])
        assert keys <= defined, f"{name}: not in docs/interfaces.md: {sorted(keys - defined)}"
        assert {"SNIP_ENV", "SNIP_BASE_URL", "SNIP_TRUSTED_PROXIES"} <= keys


def test_databases_restart_without_a_registry_and_are_protected_from_drains(renderings):
    """Issue 9: `imagePullPolicy: Always` made a registry outage block a database restart;
    PostgreSQL had no disruption budget and the runtime's 64 MiB /dev/shm."""
    for name, r in renderings.items():
        for sts in [o for o in r.objects if o["kind"] == "StatefulSet"]:
            for c in containers(pod_template(sts)["spec"]):
                assert c.get("imagePullPolicy") == "IfNotPresent", f"{name} {ident(sts)}"
        if not any(
            o["kind"] == "StatefulSet" and o["metadata"]["name"] == "snip-postgres"
            for o in r.objects
        ):
            continue
        pdb = r.find("PodDisruptionBudget", "snip-postgres")
        assert pdb["spec"] == {
            "maxUnavailable": 0,
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "snip",
                    "app.kubernetes.io/component": "postgres",
                }
            },
        }
        spec = pod_template(r.find("StatefulSet", "snip-postgres"))["spec"]
        shm = [m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"] == "/dev/shm"]
        assert shm, f"{name}: no /dev/shm for PostgreSQL"
        volume = next(v for v in spec["volumes"] if v["name"] == shm[0]["name"])
        assert volume["emptyDir"]["medium"] == "Memory"


def test_metrics_live_on_a_port_no_public_service_exposes(renderings):
    """Issue 9: /metrics was kept off the internet only by an ingress-nginx annotation."""
    for name, r in renderings.items():
        api = r.find("Deployment", "snip-api")
        (container,) = pod_template(api)["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        config = r.find("ConfigMap", "snip-config")["data"]
        assert int(config["METRICS_PORT"]) == ports["metrics"] != ports["http"], name
        for svc in [o for o in r.objects if o["kind"] == "Service"]:
            if svc["spec"].get("selector", {}).get("app.kubernetes.io/component") == "api":
                exposed = {p["targetPort"] for p in svc["spec"]["ports"]}
                assert exposed <= {"http", ports["http"]}, f"{name} {ident(svc)}: {exposed}"


def test_the_gateway_api_route_serves_the_base_url_host_and_never_the_metrics_port(renderings):
    routes = {n: r for n, r in renderings.items() if n.endswith("+gateway-api")}
    assert routes, "the gateway-api component is not rendered"
    for name, r in routes.items():
        route = r.find("HTTPRoute", "snip")
        base_url = r.find("ConfigMap", "snip-config")["data"]["SNIP_BASE_URL"]
        host = base_url.split("://", 1)[1].split("/")[0]
        assert name.startswith("k8s/overlays/local") or route["spec"]["hostnames"] == [host]
        backends = [b for rule in route["spec"]["rules"] for b in rule["backendRefs"]]
        assert backends == [{"name": "snip-api", "port": 8000}], name
