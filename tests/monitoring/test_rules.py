"""Alert and recording rules: valid, unit-tested both ways, and each one leads to
its own Runbook section."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.monitoring.stack import (
    FOR_LINE,
    RULE_FILES,
    RULE_TESTS,
    RULES_DIR,
    RUNBOOK,
    RUNBOOK_URL_PREFIX,
    alert_rules,
    load_yaml,
)
from tests.support.tools import run, tool

SEVERITIES = {"critical", "warning", "info"}
# Watchdog fires by design, always: it has no quiet case.
ALWAYS_FIRING = {"Watchdog"}


def test_promtool_accepts_the_rule_files():
    result = run([tool("promtool"), "check", "rules", *RULE_FILES])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    result = run([tool("promtool"), "test", "rules", *RULE_TESTS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_fail_when_an_alert_is_broken(tmp_path: Path):
    """The unit tests really compare: a RedisDown that can never fire fails them."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    alerts = rules / "alerts.yaml"
    text = alerts.read_text()
    assert 'redis_up{job="redis-exporter"} == 0' in text
    alerts.write_text(
        text.replace('redis_up{job="redis-exporter"} == 0', 'redis_up{job="redis-exporter"} == 2')
    )
    result = run([tool("promtool"), "test", "rules", rules / "tests" / "dependencies.yaml"])
    assert result.returncode != 0
    assert "RedisDown" in result.stdout + result.stderr


def _unit_test_cases() -> dict[str, dict[str, list[dict]]]:
    """{alertname: {"firing": [exp_alerts...], "quiet": [...]}} over every test file."""
    cases: dict[str, dict[str, list[dict]]] = {}
    for docs in load_yaml(*RULE_TESTS):
        for test in docs[0]["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "firing" if case.get("exp_alerts") else "quiet"
                cases.setdefault(case["alertname"], {"firing": [], "quiet": []})[kind].append(case)
    return cases


ALERTS = alert_rules()
ALERT_NAMES = [rule["alert"] for rule in ALERTS]


def test_alert_names_are_unique():
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES))


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_alert_carries_severity_summary_description_and_its_runbook_url(rule):
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert annotations["runbook_url"] == RUNBOOK_URL_PREFIX + rule["alert"].lower()


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_a_firing_and_a_quiet_unit_test(name):
    cases = _unit_test_cases().get(name, {"firing": [], "quiet": []})
    assert cases["firing"], f"no unit test shows {name} firing"
    if name not in ALWAYS_FIRING:
        assert cases["quiet"], f"no unit test shows {name} staying quiet"
    for case in cases["firing"]:
        for expected in case["exp_alerts"]:
            annotations = expected.get("exp_annotations", {})
            assert {"summary", "description", "runbook_url"} <= set(annotations), (
                f"{name}: a firing test must pin the annotations, runbook_url included"
            )


def test_every_for_line_is_shortened_by_the_e2e_override():
    """The e2e test rewrites `for:` lines by pattern; it must find every one."""
    with_for = sum(1 for rule in ALERTS if "for" in rule)
    text = (RULES_DIR / "alerts.yaml").read_text()
    assert len(FOR_LINE.findall(text)) == with_for


# ---------------------------------------------------------------- Runbook


def github_anchor(heading: str) -> str:
    """GitHub's slug of a Markdown heading: lowercase, punctuation dropped, spaces to '-'."""
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def _alert_sections() -> dict[str, str]:
    """{anchor: section text} for the ### headings between the alert markers."""
    text = RUNBOOK.read_text()
    assert "<!-- BEGIN ALERTS -->" in text and "<!-- END ALERTS -->" in text
    block = text.split("<!-- BEGIN ALERTS -->", 1)[1].split("<!-- END ALERTS -->", 1)[0]
    parts = re.split(r"^### (.+)$", block, flags=re.MULTILINE)
    return {github_anchor(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


def test_github_anchor_matches_githubs_rules():
    assert github_anchor("RedisDown") == "redisdown"
    assert github_anchor("Backup and restore (DR)") == "backup-and-restore-dr"


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_runbook_url_resolves_to_a_full_runbook_section(rule):
    anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
    all_headings = {
        github_anchor(m)
        for m in re.findall(r"^#{1,6} (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    }
    assert anchor in all_headings, f"Runbook.md has no heading for #{anchor}"
    section = _alert_sections().get(anchor)
    assert section is not None, f"#{anchor} is not among the alert sections of Runbook.md"
    for part in ("Meaning", "Impact", "Diagnosis", "Mitigation"):
        assert f"**{part}**" in section, f"Runbook section {anchor} lacks **{part}**"


def test_every_runbook_alert_section_belongs_to_an_alert():
    """No stale sections: each one describes an alert that exists."""
    names = {name.lower() for name in ALERT_NAMES}
    assert set(_alert_sections()) <= names
