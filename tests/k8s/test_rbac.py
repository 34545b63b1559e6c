"""The shipped RBAC runs the shipped tooling, and nothing more is needed (offline can-i).

Every `kubectl` call in scripts/ and in Runbook.md is read, mapped to the API requests it
makes (verb, API group, resource, subresource), and checked against the Roles the
rendered root binds to the identity that runs it:

- read-only commands (get, describe, logs, top, rollout status/history, wait): the
  on-call group `snip:operators` (Role snip-operator-readonly) and the deployers;
- everything else: `snip:deployers` (Role snip-deployer);
- the few commands a cluster admin runs (the Namespace, k8s/cluster) are listed below,
  by name, and must say so in the Runbook.

The defect this catches: deploy.sh applied ClusterRoles and used a server-side dry run
the deployer could not do, and nothing granted pods/exec, pods/portforward, pod
create/delete or metrics.k8s.io, which the scripts and the Runbook use.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import pytest

from tests.k8s.conftest import Rendering
from tests.support.servers import REPO_ROOT

# kind (as typed on the command line) -> (API group, resource)
KINDS = {
    "pod": ("", "pods"),
    "po": ("", "pods"),
    "pods": ("", "pods"),
    "svc": ("", "services"),
    "service": ("", "services"),
    "services": ("", "services"),
    "endpoints": ("", "endpoints"),
    "ep": ("", "endpoints"),
    "configmap": ("", "configmaps"),
    "configmaps": ("", "configmaps"),
    "cm": ("", "configmaps"),
    "secret": ("", "secrets"),
    "secrets": ("", "secrets"),
    "pvc": ("", "persistentvolumeclaims"),
    "persistentvolumeclaims": ("", "persistentvolumeclaims"),
    "events": ("", "events"),
    "ev": ("", "events"),
    "event": ("", "events"),
    "serviceaccount": ("", "serviceaccounts"),
    "sa": ("", "serviceaccounts"),
    "deploy": ("apps", "deployments"),
    "deployment": ("apps", "deployments"),
    "deployments": ("apps", "deployments"),
    "statefulset": ("apps", "statefulsets"),
    "sts": ("apps", "statefulsets"),
    "statefulsets": ("apps", "statefulsets"),
    "rs": ("apps", "replicasets"),
    "replicaset": ("apps", "replicasets"),
    "job": ("batch", "jobs"),
    "jobs": ("batch", "jobs"),
    "cronjob": ("batch", "cronjobs"),
    "cronjobs": ("batch", "cronjobs"),
    "cj": ("batch", "cronjobs"),
    "hpa": ("autoscaling", "horizontalpodautoscalers"),
    "pdb": ("policy", "poddisruptionbudgets"),
    "ingress": ("networking.k8s.io", "ingresses"),
    "ing": ("networking.k8s.io", "ingresses"),
    "networkpolicy": ("networking.k8s.io", "networkpolicies"),
    "netpol": ("networking.k8s.io", "networkpolicies"),
    "certificate": ("cert-manager.io", "certificates"),
    "certificates": ("cert-manager.io", "certificates"),
    "certificaterequests": ("cert-manager.io", "certificaterequests"),
    "orders": ("acme.cert-manager.io", "orders"),
    "challenges": ("acme.cert-manager.io", "challenges"),
}
READ_ONLY = {"get", "describe", "logs", "top", "wait", "rollout status", "rollout history"}
LOCAL = {"config", "kustomize", "version", "completion", "explain"}
# Commands a cluster admin runs (cluster-scoped objects); the deployer must never need them.
CLUSTER_ADMIN = ("apply -f k8s/namespace.yaml", "apply -k k8s/cluster")


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str  # with /subresource
    name: str | None = None


@dataclass(frozen=True)
class Call:
    where: str
    words: tuple[str, ...]

    @property
    def command(self) -> str:
        return " ".join(self.words)


# The scripts' variables that name objects, at their defaults (scripts/lib/kube.sh).
NAMES = {
    "SNIP_SECRET_NAME": "snip-secrets",
    "SNIP_DEPLOYMENT": "snip-api",
    "SNIP_SERVICE": "snip-api",
    "DATABASE": "snip-postgres",
}
VERBS = {
    "get",
    "describe",
    "logs",
    "top",
    "wait",
    "rollout",
    "annotate",
    "patch",
    "scale",
    "delete",
    "exec",
    "cp",
    "port-forward",
    "create",
    "apply",
    "auth",
    *LOCAL,
}


def words_of(line: str) -> list[str]:
    line = re.sub(
        r"\$\{?([A-Za-z_]+)\}?", lambda m: NAMES.get(m.group(1), f"VAR_{m.group(1)}"), line
    )
    line = line.replace("$(", "(").replace("<", "").replace(">", "")
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return [w.strip("\"'()") for w in line.split()]


def strip_options(words: list[str]) -> list[str]:
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
            continue
        if w in (
            "-n",
            "--namespace",
            "-l",
            "-c",
            "-o",
            "-p",
            "--type",
            "--for",
            "--timeout",
            "--tail",
            "--from",
            "--replicas",
            "--sort-by",
            "--field-manager",
        ):
            skip = True
            continue
        if w.startswith("-"):
            continue
        out.append(w)
    return out


def calls_in(where: str, text: str, *, wrapper: bool) -> list[Call]:
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        pattern = (
            r"(?:^|[\s(`|;&])(kubectl|k)\s+(.*)" if wrapper else r"(?:^|[\s(`|;&])(kubectl)\s+(.*)"
        )
        for m in re.finditer(pattern, stripped):
            rest = m.group(2).split("`")[0].split(" | ")[0].split(" || ")[0].split(" && ")[0]
            words = strip_options(words_of(rest))
            if not words or words[0] not in VERBS:
                continue  # prose ("kubectl is missing") or another tool's words
            if m.group(1) == "k" and words[0] not in {
                "get",
                "apply",
                "rollout",
                "logs",
                "annotate",
                "patch",
                "delete",
                "wait",
                "exec",
                "describe",
                "create",
                "scale",
                "port-forward",
                "cp",
                "top",
            }:
                continue
            needs = 3 if words[0] == "rollout" or (len(words) > 1 and "/" not in words[1]) else 2
            if words[0] in ("get", "describe", "top", "create"):
                needs = 2
            if words[0] == "apply":
                needs = 1
            if len(words) < needs and words[0] not in LOCAL:
                continue  # named in prose (`kubectl scale`), not a command
            found.append(Call(where, tuple(words)))
    return found


def all_calls() -> list[Call]:
    calls = []
    for script in sorted((REPO_ROOT / "scripts").rglob("*.sh")):
        text = script.read_text()
        calls += calls_in(script.name, text, wrapper="kube.sh" in text or script.name == "kube.sh")
    runbook = (REPO_ROOT / "Runbook.md").read_text()
    calls += calls_in("Runbook.md", runbook, wrapper=False)
    return calls


def resource_of(word: str) -> tuple[str, str, str | None]:
    kind, _, name = word.partition("/")
    if kind not in KINDS:
        raise KeyError(kind)
    group, resource = KINDS[kind]
    return group, resource, name or None


def requests_for(call: Call, rendering: Rendering) -> list[Request]:
    w = list(call.words)
    verb = w[0]
    if verb in LOCAL or verb == "auth":
        return []
    if verb in ("get", "describe"):
        out = []
        for word in w[1].split(","):
            group, resource, name = resource_of(word)
            name = name or (w[2] if len(w) > 2 and "/" not in w[2] and "=" not in w[2] else None)
            out.append(Request("get" if name else "list", group, resource, name))
        if verb == "describe":
            out.append(Request("list", "", "events"))
        return out
    if verb == "logs":
        target = w[1]
        out = [Request("get", "", "pods/log")]
        if "/" in target:
            group, resource, name = resource_of(target)
            out += [Request("get", group, resource, name), Request("list", "", "pods")]
        else:
            out.append(Request("get", "", "pods"))
        return out
    if verb == "top":
        return [Request("list", "metrics.k8s.io", "pods")]
    if verb == "wait":
        group, resource, name = resource_of(w[1])
        return [Request("get", group, resource, name), Request("watch", group, resource)]
    if verb == "rollout":
        group, resource, name = resource_of(w[2])
        sub = w[1]
        base = [Request("get", group, resource, name)]
        if sub == "status":
            return [*base, Request("watch", group, resource)]
        if sub == "history":
            return [
                *base,
                Request(
                    "list",
                    "apps",
                    "replicasets" if resource == "deployments" else "controllerrevisions",
                ),
            ]
        if sub == "undo":
            return [
                *base,
                Request("list", "apps", "replicasets"),
                Request("patch", group, resource, name),
            ]
        if sub == "restart":
            return [*base, Request("patch", group, resource, name)]
        raise KeyError(f"rollout {sub}")
    if verb in ("annotate", "patch"):
        group, resource, name = resource_of(w[1] if "/" in w[1] else f"{w[1]}/{w[2]}")
        return [Request("get", group, resource, name), Request("patch", group, resource, name)]
    if verb == "scale":
        out = []
        for target in w[1:]:
            group, resource, name = resource_of(target)
            out += [
                Request("get", group, f"{resource}/scale", name),
                Request("patch", group, f"{resource}/scale", name),
            ]
        return out
    if verb == "delete":
        group, resource, name = resource_of(w[1] if "/" in w[1] else f"{w[1]}/{w[2]}")
        return [Request("delete", group, resource, name)]
    if verb in ("exec", "cp"):
        target = next(a for a in w[1:] if verb == "exec" or ":" in a).split(":")[0]
        out = [Request("create", "", "pods/exec")]
        if "/" in target:
            group, resource, name = resource_of(target)
            out += [Request("get", group, resource, name), Request("list", "", "pods")]
        else:
            out.append(Request("get", "", "pods"))
        return out
    if verb == "port-forward":
        group, resource, name = resource_of(w[1])
        out = [Request("create", "", "pods/portforward"), Request("get", group, resource, name)]
        if resource != "pods":
            out.append(Request("list", "", "pods"))
        return out
    if verb == "create":
        if w[1] == "job":
            return [Request("get", "batch", "cronjobs"), Request("create", "batch", "jobs")]
        if w[1] == "secret":
            return [Request("create", "", "secrets")]
        raise KeyError(f"create {w[1]}")
    if verb == "apply":
        if "k8s/secrets.yaml" in call.command or (
            call.where == "deploy.sh" and "secrets" in call.command
        ):
            return [
                Request("get", "", "secrets", "snip-secrets"),
                Request("create", "", "secrets"),
                Request("patch", "", "secrets", "snip-secrets"),
            ]
        if call.where == "ops-pod.sh":  # deletes the pod first: apply only creates it
            return [Request("get", "", "pods"), Request("create", "", "pods")]
        # deploy.sh (and `kubectl apply -k`): every namespaced kind of the rendering.
        kinds = sorted(
            {
                (o["apiVersion"].rpartition("/")[0], o["kind"].lower() + "s")
                for o in rendering.objects
                if "namespace" in o["metadata"] and o["kind"] != "Secret"
            }
        )
        out = []
        for group, resource in kinds:
            resource = {
                "ingresss": "ingresses",
                "networkpolicys": "networkpolicies",
                "horizontalpodautoscalers": "horizontalpodautoscalers",
            }.get(resource, resource)
            resource = {
                "persistentvolumeclaims": "persistentvolumeclaims",
                "endpointss": "endpoints",
            }.get(resource, resource)
            out += [Request(v, group, resource) for v in ("get", "create", "patch")]
        return out
    raise KeyError(verb)


def allows(role: dict, req: Request) -> bool:
    for rule in role.get("rules", []):
        if req.group not in rule.get("apiGroups", []) and "*" not in rule.get("apiGroups", []):
            continue
        if req.resource not in rule.get("resources", []):
            continue
        if req.verb not in rule.get("verbs", []) and "*" not in rule["verbs"]:
            continue
        names = rule.get("resourceNames")
        if names and (
            req.name is None or req.name not in names or req.verb in ("create", "list", "watch")
        ):
            continue
        return True
    return False


def bound_role(rendering: Rendering, group: str) -> dict:
    bindings = [
        b
        for b in rendering.objects
        if b["kind"] == "RoleBinding"
        and any(s.get("kind") == "Group" and s["name"] == group for s in b["subjects"])
    ]
    assert len(bindings) == 1, f"{group}: {len(bindings)} RoleBindings"
    return rendering.find("Role", bindings[0]["roleRef"]["name"])


def identities(call: Call) -> list[str]:
    """Read-only commands: on-call too. Secrets and exec (which reads them from a pod's
    environment) stay with the deployers."""
    verb = call.words[0] if call.words[0] != "rollout" else " ".join(call.words[:2])
    if verb in READ_ONLY and not any(w.startswith("secret") for w in call.words[1:2]):
        return ["snip:deployers", "snip:operators"]
    return ["snip:deployers"]


def test_every_kubectl_call_is_found():
    calls = all_calls()
    where = {c.where for c in calls}
    assert {"deploy.sh", "rollback.sh", "health-check.sh", "kube.sh", "Runbook.md"} <= where
    assert len([c for c in calls if c.where == "Runbook.md"]) > 40


def test_the_roles_allow_every_kubectl_call(root):
    problems = []
    for call in all_calls():
        if any(call.command.startswith(admin) for admin in CLUSTER_ADMIN):
            continue
        try:
            reqs = requests_for(call, root)
        except KeyError as exc:
            problems.append(f"{call.where}: cannot map `kubectl {call.command}` ({exc})")
            continue
        for identity in identities(call):
            role = bound_role(root, identity)
            denied = [r for r in reqs if not allows(role, r)]
            if denied:
                problems.append(
                    f"{call.where}: `kubectl {call.command}` as {identity}: denied {denied}"
                )
    assert problems == [], "\n".join(sorted(set(problems)))


def test_cluster_admin_steps_are_said_to_be_the_admins(root):
    runbook = (REPO_ROOT / "Runbook.md").read_text()
    for admin in CLUSTER_ADMIN:
        assert f"kubectl {admin}" in runbook
    assert "cluster admin" in runbook
    assert not [
        o
        for o in root.objects
        if "namespace" not in o["metadata"] and o["kind"] not in ("Namespace",)
    ]


@pytest.mark.parametrize(
    "command,identity,allowed",
    [
        ("exec deploy/snip-api -- snip keys list", "snip:operators", False),
        ("get secret snip-secrets", "snip:operators", False),
        ("get pods", "snip:operators", True),
        ("delete pod snip-ops", "snip:deployers", True),
    ],
)
def test_the_offline_can_i_can_say_no(root, command, identity, allowed):
    call = Call("test", tuple(strip_options(words_of(command))))
    role = bound_role(root, identity)
    assert all(allows(role, r) for r in requests_for(call, root)) is allowed
