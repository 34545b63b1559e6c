#!/usr/bin/env python3
"""Prove that every panel query of snip's Grafana dashboards works.

Grafana provisioning (k8s/monitoring/grafana/provisioning/) already loads the dashboard
files into Grafana; what it does not do is tell whether their PromQL is right: a typo
shows up as an empty panel on the day someone looks. This tool checks each query of
k8s/monitoring/grafana/dashboards/*.json, with Grafana's variables replaced as Grafana
would:
  - without --prometheus-url: each query must parse (promtool check rules on a
    generated rule file: Prometheus's own parser, offline);
  - with --prometheus-url: each query is run there and must succeed; with
    --require-data it must also return something (use it against a Prometheus that
    scrapes a running snip, e.g. through `kubectl port-forward`).

Python standard library only (plus promtool for the offline check).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "k8s" / "monitoring" / "grafana" / "dashboards"

EXIT_OK = 0
EXIT_FAILED = 1  # a query failed (or returned nothing, with --require-data)
EXIT_INVALID = 2  # a dashboard file is not valid JSON
EXIT_UNREACHABLE = 3  # Prometheus did not answer
EXIT_USAGE = 64
EXIT_PREFLIGHT = 69  # promtool missing (offline check)

EPILOG = """
environment:
  PROMETHEUS_URL      default for --prometheus-url

exit codes:
  0   every query parses (offline) or runs (and returns data, with --require-data)
  1   a query failed, or returned nothing with --require-data
  2   a dashboard file is not valid JSON
  3   Prometheus did not answer
  64  bad command line
  69  promtool not installed (offline check): apt-get install prometheus
"""

# Grafana's built-in variables, replaced by values a plain query accepts.
BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}


@dataclass
class Query:
    where: str  # "<dashboard uid> / <panel title> [<refId>]"
    expr: str  # with every variable replaced


def iter_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those folded into (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels") or [])


def dashboard_variables(data: dict[str, Any]) -> dict[str, str]:
    """Current values of the dashboard's own variables; "all" or unset matches anything."""
    values = {}
    for var in (data.get("templating") or {}).get("list", []):
        if var.get("type") == "datasource":
            continue
        current = (var.get("current") or {}).get("value")
        if isinstance(current, list):
            current = "|".join(current)
        values[var.get("name", "")] = ".*" if current in (None, "", "$__all") else str(current)
    return values


def expand(expr: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return BUILTINS.get(name) or variables.get(name, ".*")

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def load_queries(directory: Path) -> tuple[list[Query], list[str]]:
    """Every panel query of every *.json file; and the files that could not be read."""
    queries: list[Query] = []
    problems: list[str] = []
    files = sorted(directory.glob("*.json"))
    if not files:
        problems.append(f"{directory}: no dashboard files (*.json)")
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{path.name}: not valid JSON: {exc}")
            continue
        variables = dashboard_variables(data)
        for panel in iter_panels(data.get("panels") or []):
            for target in panel.get("targets") or []:
                expr = str(target.get("expr", "")).strip()
                if expr:
                    where = f"{data.get('uid', path.stem)} / {panel.get('title')!r}"
                    where += f" [{target.get('refId', '?')}]"
                    queries.append(Query(where, expand(expr, variables)))
    return queries, problems


def parse_offline(queries: list[Query], promtool: str) -> list[str]:
    """Queries promtool's parser refuses. One rule group per query, named by its index,
    so each error message points back at its panel."""
    groups = [
        {"name": f"q{i}", "rules": [{"record": "dashboard_check", "expr": q.expr}]}
        for i, q in enumerate(queries)
    ]
    failed = []
    with tempfile.TemporaryDirectory() as scratch:
        rules = Path(scratch) / "queries.yaml"
        rules.write_text(json.dumps({"groups": groups}))  # JSON is valid YAML
        result = subprocess.run(
            [promtool, "check", "rules", str(rules)], capture_output=True, text=True
        )
    if result.returncode == 0:
        return []
    output = result.stdout + result.stderr
    for i, query in enumerate(queries):
        # promtool names the group: 'group "q3", rule 1, "dashboard_check": ...'
        match = re.search(rf'group "q{i}", rule \d+,[^\n]*', output)
        if match:
            failed.append(f"{query.where}: {match.group(0)}")
    return failed or [f"promtool refused the queries: {output.strip()}"]


class Unreachable(RuntimeError):
    """Prometheus did not answer."""


def run_online(queries: list[Query], url: str, timeout: float) -> tuple[list[str], list[str]]:
    """(failed, empty) queries on a live Prometheus."""
    failed, empty = [], []
    for query in queries:
        address = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query.expr})
        try:
            with urllib.request.urlopen(address, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 422):  # Prometheus refusing the query itself
                error = json.loads(exc.read() or b"{}").get("error", exc.reason)
                failed.append(f"{query.where}: {error}")
                continue
            raise Unreachable(f"{address}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise Unreachable(f"{url}: {exc}") from exc
        data = answer.get("data") or {}
        if data.get("resultType") in ("vector", "matrix") and not data.get("result"):
            empty.append(f"{query.where}: no data for {query.expr}")
    return failed, empty


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/monitoring/dashboard-checker.py",
        description="Check that every panel query of the dashboards parses, or runs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dashboards",
        type=Path,
        default=DEFAULT_DIR,
        help="folder of dashboard JSON files (default: %(default)s)",
    )
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("PROMETHEUS_URL") or None,
        help="run every query on this Prometheus (default: $PROMETHEUS_URL; else parse offline)",
    )
    parser.add_argument(
        "--require-data",
        action="store_true",
        help="with --prometheus-url: a query returning nothing counts as a failure",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per query (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.require_data and not args.prometheus_url:
        parser.error("--require-data needs --prometheus-url (or PROMETHEUS_URL)")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code == 2 else int(exc.code or 0)

    queries, problems = load_queries(args.dashboards)
    report: dict[str, Any] = {"queries": len(queries), "invalid": problems}
    if problems:
        code = EXIT_INVALID
    elif args.prometheus_url:
        report["mode"] = f"run on {args.prometheus_url}"
        try:
            report["failed"], report["empty"] = run_online(
                queries, args.prometheus_url, args.timeout
            )
        except Unreachable as exc:
            report["error"] = str(exc)
            print_report(report, as_json=args.json)
            return EXIT_UNREACHABLE
        bad = report["failed"] or (args.require_data and report["empty"])
        code = EXIT_FAILED if bad else EXIT_OK
    else:
        promtool = shutil.which("promtool")
        if not promtool:
            print(
                "promtool not found: it parses the queries offline. Install it with "
                "`apt-get install prometheus`, or pass --prometheus-url",
                file=sys.stderr,
            )
            return EXIT_PREFLIGHT
        report["mode"] = "parsed offline (promtool)"
        report["failed"] = parse_offline(queries, promtool)
        code = EXIT_FAILED if report["failed"] else EXIT_OK
    print_report(report, as_json=args.json)
    return code


def print_report(report: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    for problem in report["invalid"]:
        print(f"INVALID  {problem}")
    if "mode" in report:
        failed, empty = report.get("failed", []), report.get("empty", [])
        summary = f"{report['queries']} panel queries {report['mode']}: {len(failed)} failed"
        if "empty" in report:
            summary += f", {len(empty)} returned nothing"
        print(summary)
        for line in failed:
            print(f"FAILED   {line}")
        for line in empty:
            print(f"EMPTY    {line}")
    if "error" in report:
        print(f"ERROR    {report['error']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
