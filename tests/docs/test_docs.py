"""The documentation tells the truth about the repository.

Proves, for Runbook.md, README.md, CONTRIBUTING.md and docs/*.md:
- every repository path they name (k8s/..., scripts/..., docs/..., root files) exists,
  and every compatibility link under k8s/ they name resolves;
- every relative Markdown link points at a file, and every #anchor at a heading;
- every `make <target>` they show is a real target of the Makefile (with mk/*.mk);
and for the scripts and .env.example:
- every script answers --help with exit 0, listing options, environment and exit codes;
- every variable in .env.example is read by the application or a script, and every
  variable they read is listed there (and every one in docs/interfaces.md);
and for the Runbook: the sections an on-call newcomer needs, and the plan's install order.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT

DOCS = [
    "Runbook.md",
    "README.md",
    "CONTRIBUTING.md",
    *sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "docs").glob("*.md")),
]
SCRIPTS = sorted(
    p
    for p in (REPO_ROOT / "scripts").rglob("*")
    if p.suffix in (".sh", ".py") and "lib" not in p.parts
)
TOP_DIRS = ("k8s", "scripts", "docs", "src", "tests", "mk", "bench", "requirements", ".ci")
ROOT_FILES = (
    "Makefile",
    "Runbook.md",
    "README.md",
    "CONTRIBUTING.md",
    ".env.example",
    "pyproject.toml",
    "Dockerfile",
    "compose.yaml",
    ".dockerignore",
)
# Standard variables of the shell and the system, not snip's configuration.
SYSTEM_VARIABLES = {"USER", "HOME", "PATH", "TERM", "SHELL", "TMPDIR", "LANG"}


def doc_text(name: str) -> str:
    path = REPO_ROOT / name
    assert path.is_file(), f"{name} is missing"
    return path.read_text()


def code_of(text: str) -> str:
    """The commands of a Markdown text: fenced blocks and inline code spans."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    without_fences = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return "\n".join(fenced + re.findall(r"`([^`\n]+)`", without_fences))


def named_paths(text: str) -> set[str]:
    dirs = "|".join(re.escape(d) for d in TOP_DIRS)
    paths = set(re.findall(rf"(?<![\w./-])((?:{dirs})/[A-Za-z0-9_./-]*)", text))
    roots = "|".join(re.escape(f) for f in ROOT_FILES)
    paths |= set(re.findall(rf"(?<![\w./-])({roots})(?![\w.-])", text))
    return {p.rstrip(".,:;)") for p in paths if not re.search(r"[<>*]|\.\.\.|…", p)}


def missing_paths(text: str) -> list[str]:
    # os.path.exists follows links: a dangling compatibility link counts as missing.
    return sorted(p for p in named_paths(text) if not (REPO_ROOT / p).exists())


@pytest.mark.parametrize("doc", DOCS)
def test_every_named_path_exists(doc):
    missing = missing_paths(doc_text(doc))
    assert missing == [], f"{doc} names paths that do not exist: {missing}"


def github_anchor(heading: str) -> str:
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def broken_links(text: str, folder: Path) -> list[str]:
    """Relative links of a Markdown text (in folder) that point at no file or heading."""
    anchors = {github_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+)$", text, flags=re.M)}
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        if path:
            if not (folder / path).exists():
                broken.append(target)
        elif anchor not in anchors:
            broken.append(target)
    return broken


@pytest.mark.parametrize("doc", DOCS)
def test_every_markdown_link_resolves(doc):
    broken = broken_links(doc_text(doc), REPO_ROOT / Path(doc).parent)
    assert broken == [], f"{doc}: links to nothing: {broken}"


@cache
def make_targets() -> set[str]:
    database = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile", ":"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.-]*):(?!=)", database, flags=re.M))


def unknown_make_targets(text: str) -> set[str]:
    """`make <target>` commands in a Markdown text's code whose target does not exist."""
    shown = set(re.findall(r"(?<![\w-])make\s+([a-z][a-z0-9_-]*)(?![\w=-])", code_of(text)))
    return shown - make_targets()


@pytest.mark.parametrize("doc", DOCS)
def test_every_make_target_shown_exists(doc):
    unknown = unknown_make_targets(doc_text(doc))
    assert unknown == set(), f"{doc} shows make targets that do not exist: {unknown}"


def test_ops_make_targets_exist_and_are_described():
    ops = (REPO_ROOT / "mk" / "ops.mk").read_text()
    for target in ("setup", "deploy", "rollback", "health", "backup", "restore", "dashboards"):
        assert target in make_targets()
        assert re.search(rf"^{target}:.*## \S", ops, flags=re.M), f"{target} has no ## description"


# --------------------------------------------------------------------------- scripts


@cache
def help_text(script: Path) -> str:
    result = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{script} --help exited {result.returncode}: {result.stderr}"
    return result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_script_has_a_complete_help(script):
    assert os.access(script, os.X_OK), f"{script} is not executable"
    text = help_text(script).lower()
    for part in ("usage", "environment", "exit codes", "--help"):
        assert part in text, f"{script} --help does not mention {part!r}"


@pytest.mark.parametrize("script", [p for p in SCRIPTS if p.suffix == ".sh"], ids=lambda p: p.name)
def test_shell_scripts_follow_the_conventions(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    changes_things = script.name not in {"health-check.sh"}
    if changes_things:
        assert "--dry-run" in text, f"{script.name} changes things but has no --dry-run"


# ------------------------------------------------------------------ environment variables


def listed_variables() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.M))


PY_READ = re.compile(
    r"""(?:environ\.get\(|environ\[|getenv\(|\benv\.get\(|\(\s*(?:os\.)?(?:env|environ)\s*,)"""
    r"""\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def app_variables() -> set[str]:
    names: set[str] = set()
    for path in (REPO_ROOT / "src" / "snip").rglob("*.py"):
        names |= set(PY_READ.findall(path.read_text()))
    return names


def help_variables(script: Path) -> set[str]:
    """Variables in the 'Environment' section of a script's --help."""
    section = re.search(
        r"^environment:?\s*$(.*?)^(?:exit codes|\S[^\n]*:\s*$)",
        help_text(script),
        flags=re.S | re.M | re.I,
    )
    assert section, f"{script} --help has no Environment section"
    tokens = re.findall(
        r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\bPG[A-Z]+\b|\bPYTHON\b", section.group(1)
    )
    return set(tokens)


def shell_reads(script: Path) -> set[str]:
    """Variables a shell script takes from its environment: NAME="${NAME:-default}"
    self-defaults and expansions of names it never assigns. A library's defaults count
    only for the scripts that use those names themselves."""
    own = script.read_text()
    libs = "".join(
        (script.parent / lib).read_text()
        for lib in re.findall(r'source "\$\{SCRIPT_DIR\}/([^"]+)"', own)
    )

    def reads(text: str, assigned_text: str) -> set[str]:
        assigned = set(
            re.findall(
                r"^\s*(?:readonly\s+|local\s+|export\s+)?([A-Z][A-Z0-9_]*)=", assigned_text, re.M
            )
        )
        expanded = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):?[-?]", text))
        self_defaults = set(re.findall(r'([A-Z][A-Z0-9_]*)="\$\{\1:?-', text))
        return self_defaults | (expanded - assigned)

    used_here = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", own))
    found = reads(own, own + libs) | (reads(libs, libs) & used_here)
    return found - SYSTEM_VARIABLES


def script_variables() -> dict[Path, set[str]]:
    found = {}
    for script in SCRIPTS:
        names = help_variables(script)
        if script.suffix == ".py":
            code = set(PY_READ.findall(script.read_text()))
        else:
            code = shell_reads(script)
        undocumented = code - names
        assert undocumented == set(), (
            f"{script.name} reads {sorted(undocumented)} but its --help does not say so"
        )
        found[script] = names
    return found


def test_help_lists_exactly_what_the_scripts_read():
    script_variables()  # the assertions are inside


def test_env_example_lists_every_variable_read_and_nothing_else():
    listed = listed_variables()
    read = app_variables() | set().union(*script_variables().values())
    assert read - listed == set(), "read by the code but missing from .env.example"
    assert listed - read == set(), "listed in .env.example but read by nothing"


def test_env_example_covers_the_interface_contract():
    contract = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    table = contract.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]+)`", table, flags=re.M))
    assert documented, "no variables found in docs/interfaces.md"
    assert documented - listed_variables() == set()


# --------------------------------------------------------------------------- Runbook

RUNBOOK_SECTIONS = [
    "Overview",
    "Architecture",
    "Service level objectives",
    "First-time install",
    "Deploy a release",
    "Rollback",
    "Scaling",
    "Backups",
    "Restore and disaster recovery",
    "Health checks",
    "Dashboards",
    "Secret rotation",
    "Troubleshooting",
    "Maintenance",
    "Alerts",
]


def test_runbook_has_every_section_in_order():
    headings = re.findall(r"^## (.+)$", doc_text("Runbook.md"), flags=re.M)
    positions = [headings.index(s) for s in RUNBOOK_SECTIONS if s in headings]
    assert [s for s in RUNBOOK_SECTIONS if s not in headings] == []
    assert positions == sorted(positions)


def test_runbook_installs_in_the_plans_order_through_the_compatibility_links():
    text = doc_text("Runbook.md")
    order = [
        "namespace.yaml",
        "persistent-volumes.yaml",
        "secrets.yaml",
        "postgres.yaml",
        "redis.yml",
        "flask-api.yaml",
        "ingress.yaml",
    ]
    positions = []
    for name in order:
        path = re.escape(f"k8s/{name}")
        match = re.search(
            rf"kubectl apply -f {path}|{path} \| kubectl apply (--server-side )?-f -", text
        )
        assert match, f"the Runbook never applies k8s/{name}"
        assert (REPO_ROOT / "k8s" / name).resolve().is_file()
        positions.append(match.start())
    assert positions == sorted(positions), "the install applies the files out of the plan's order"
    assert "kubectl apply -k k8s/" in text


def test_runbook_states_slo_rpo_and_a_measured_rto():
    text = doc_text("Runbook.md")
    assert "99.9 %" in text and "100 ms" in text
    assert re.search(r"RTO measured \| .*\d+ s", text), "the RTO must carry a measured number"
    assert "RTO_MEASURED_LINE" not in text


# --------------------------------------------------------- the checker catches mistakes


def test_the_checks_would_catch_a_wrong_document():
    """The same functions the tests above run, on a document with one mistake of each kind
    next to correct lines: each mistake is found, nothing correct is reported."""
    text = (
        "# Restore and disaster recovery\n"
        "Run `kubectl apply -f k8s/nope.yaml` then `make no-such-target`, not `make test`.\n"
        "```sh\nmake lint\n```\n"
        "See [the Runbook](Runbook.md), [gone](docs/gone.md),"
        " [here](#restore-and-disaster-recovery) and [nowhere](#no-such-heading);"
        " Makefile and k8s/kustomization.yaml exist.\n"
    )
    assert missing_paths(text) == ["docs/gone.md", "k8s/nope.yaml"]
    assert unknown_make_targets(text) == {"no-such-target"}
    assert broken_links(text, REPO_ROOT) == ["docs/gone.md", "#no-such-heading"]
    assert github_anchor("`SnipApiDown`") == "snipapidown"
