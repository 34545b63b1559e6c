#!/usr/bin/env python3
"""Keep Grafana's dashboards equal to the ones in git, and prove their queries work.

The dashboards live as JSON files in k8s/monitoring/grafana/dashboards/. This tool:
  1. validates every file (JSON, a stable uid, unique uids and titles, panels with
     queries, no numeric id that would clobber another dashboard on import);
  2. with --grafana-url, compares them with a Grafana through its HTTP API and reports
     each dashboard as in sync, missing, outdated (content or folder differs) or unknown
     (in our Grafana folder but not in git); --apply creates or updates them;
  3. with --prometheus-url, runs every panel query against Prometheus and reports the
     ones that fail (syntax, unknown function) or return nothing.

Grafana API used (documented, stable since Grafana 8): GET /api/health,
GET /api/search?type=dash-db, GET /api/dashboards/uid/<uid>, POST /api/dashboards/db,
GET /api/folders, POST /api/folders.

Python standard library only, so it runs anywhere Python 3.11 does.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "k8s" / "monitoring" / "grafana" / "dashboards"

EXIT_OK = 0
EXIT_DIFFERENT = 1  # check mode found differences, or queries failed
EXIT_INVALID = 2  # a dashboard file is invalid
EXIT_UNREACHABLE = 3  # Grafana or Prometheus did not answer / refused a request
EXIT_USAGE = 64

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Keys Grafana manages itself: they differ between the file and the stored copy
# without the dashboard being any different.
VOLATILE_KEYS = {"id", "version", "iteration"}

EPILOG = """
environment:
  GRAFANA_URL         default for --grafana-url
  GRAFANA_TOKEN       service-account token (Authorization: Bearer); or
  GRAFANA_USER, GRAFANA_PASSWORD   basic authentication
  PROMETHEUS_URL      default for --prometheus-url

exit codes:
  0   everything valid and in sync (or applied); all queries answered
  1   check mode found missing/outdated/unknown dashboards, or queries failed
      (or returned nothing, with --require-data)
  2   a dashboard file is invalid (nothing was sent to Grafana)
  3   Grafana or Prometheus unreachable, or an API request refused
  64  bad command line
"""


class ApiError(RuntimeError):
    """An HTTP API did not answer or refused a request."""


# ----------------------------------------------------------------- dashboards


@dataclass
class Dashboard:
    path: Path
    data: dict[str, Any]

    @property
    def uid(self) -> str:
        return str(self.data.get("uid", ""))

    @property
    def title(self) -> str:
        return str(self.data.get("title", ""))


def iter_panels(panels: list[dict[str, Any]]):
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels") or [])


def load_dashboards(directory: Path) -> tuple[list[Dashboard], list[str]]:
    """Read and validate every *.json file; return the dashboards and the problems."""
    problems: list[str] = []
    dashboards: list[Dashboard] = []
    files = sorted(directory.glob("*.json"))
    if not files:
        problems.append(f"{directory}: no dashboard files (*.json)")
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{path.name}: not valid JSON: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path.name}: the top level must be a dashboard object")
            continue
        dashboards.append(Dashboard(path, data))
        problems.extend(f"{path.name}: {p}" for p in validate(data))

    for attribute in ("uid", "title"):
        seen: dict[str, str] = {}
        for d in dashboards:
            value = getattr(d, attribute)
            if value and value in seen:
                problems.append(f"{d.path.name}: {attribute} {value!r} also used by {seen[value]}")
            seen.setdefault(value, d.path.name)
    return dashboards, problems


def validate(data: dict[str, Any]) -> list[str]:
    problems = []
    uid = data.get("uid")
    if not isinstance(uid, str) or not UID_RE.match(uid):
        problems.append(
            f"uid {uid!r} missing or invalid (1-40 of A-Z a-z 0-9 _ -); uids must be stable"
        )
    if not data.get("title"):
        problems.append("title missing")
    if data.get("id") is not None:
        problems.append("numeric 'id' present: remove it (ids are per Grafana; uids identify)")
    panels = data.get("panels")
    if not isinstance(panels, list) or not panels:
        problems.append("no panels")
        return problems
    variables = {v.get("name") for v in (data.get("templating") or {}).get("list", [])}
    for panel in iter_panels(panels):
        where = f"panel {panel.get('title') or panel.get('id')!r}"
        if "type" not in panel:
            problems.append(f"{where}: no type")
        if panel.get("type") == "row":
            continue
        for target in panel.get("targets") or []:
            if "expr" in target and not str(target["expr"]).strip():
                problems.append(f"{where}: empty query")
        ds = panel.get("datasource")
        if isinstance(ds, dict):
            ds = ds.get("uid")
        if isinstance(ds, str):
            match = re.fullmatch(r"\$\{?(\w+)\}?", ds)
            if match and match.group(1) not in variables:
                problems.append(f"{where}: data source variable ${match.group(1)} is not defined")
    return problems


def canonical(data: dict[str, Any]) -> str:
    """Stable text of a dashboard without the keys Grafana rewrites on save."""
    return json.dumps({k: v for k, v in data.items() if k not in VOLATILE_KEYS}, sort_keys=True)


# ----------------------------------------------------------------------- HTTP


@dataclass
class Http:
    base: str
    timeout: float
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        url = self.base.rstrip("/") + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ApiError(f"{method} {url}: HTTP {exc.code} {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ApiError(f"{method} {url}: {exc}") from exc
        return json.loads(text) if text else None


def grafana_client(url: str, timeout: float) -> Http:
    headers = {}
    if os.environ.get("GRAFANA_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['GRAFANA_TOKEN']}"
    elif os.environ.get("GRAFANA_USER"):
        pair = f"{os.environ['GRAFANA_USER']}:{os.environ.get('GRAFANA_PASSWORD', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return Http(url, timeout, headers)


# -------------------------------------------------------------------- Grafana


def compare(grafana: Http, dashboards: list[Dashboard], folder_uid: str) -> dict[str, list[str]]:
    """Sort the repository's dashboards into in-sync / missing / outdated, plus unknown."""
    grafana.request("GET", "/api/health")
    found = grafana.request("GET", "/api/search?type=dash-db") or []
    by_uid = {item["uid"]: item for item in found if item.get("uid")}
    report: dict[str, list[str]] = {"in_sync": [], "missing": [], "outdated": [], "unknown": []}
    for d in dashboards:
        if d.uid not in by_uid:
            report["missing"].append(d.uid)
            continue
        stored = grafana.request("GET", f"/api/dashboards/uid/{urllib.parse.quote(d.uid)}")
        live_folder = (stored.get("meta") or {}).get("folderUid", "")
        # Content or folder: a dashboard in the wrong folder is also out of date.
        if canonical(stored["dashboard"]) != canonical(d.data) or live_folder != folder_uid:
            report["outdated"].append(d.uid)
        else:
            report["in_sync"].append(d.uid)
    ours = {d.uid for d in dashboards}
    report["unknown"] = sorted(
        uid
        for uid, item in by_uid.items()
        if item.get("folderUid") == folder_uid and uid not in ours
    )
    return report


def ensure_folder(grafana: Http, folder_uid: str, title: str, dry_run: bool) -> None:
    folders = grafana.request("GET", "/api/folders") or []
    if any(f.get("uid") == folder_uid for f in folders):
        return
    print(f"{'would create' if dry_run else 'creating'} folder {title!r} (uid {folder_uid})")
    if not dry_run:
        grafana.request("POST", "/api/folders", {"uid": folder_uid, "title": title})


def apply(
    grafana: Http, dashboards: list[Dashboard], report, folder_uid: str, dry_run: bool
) -> None:
    by_uid = {d.uid: d for d in dashboards}
    for uid in report["missing"] + report["outdated"]:
        d = by_uid[uid]
        verb = "create" if uid in report["missing"] else "update"
        print(f"{'would ' + verb if dry_run else verb + 'd'}: {uid} ({d.path.name})")
        if dry_run:
            continue
        grafana.request(
            "POST",
            "/api/dashboards/db",
            {
                "dashboard": {**d.data, "id": None},
                "folderUid": folder_uid,
                "overwrite": True,
                "message": f"dashboard-checker: {d.path.name} from git",
            },
        )


# ----------------------------------------------------------------- Prometheus

# Grafana's built-in variables, replaced by values a plain instant query accepts.
BUILTINS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}


def expand(expr: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        return variables.get(name, ".*")

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


def dashboard_variables(data: dict[str, Any]) -> dict[str, str]:
    """Current values of the dashboard's own variables (data source ones are ignored)."""
    values = {}
    for var in (data.get("templating") or {}).get("list", []):
        current = (var.get("current") or {}).get("value")
        if isinstance(current, list):
            current = "|".join(current)
        if var.get("type") == "datasource":
            continue
        values[var.get("name", "")] = ".*" if current in (None, "", "$__all") else str(current)
    return values


def check_queries(
    prometheus: Http, dashboards: list[Dashboard]
) -> tuple[list[str], list[str], int]:
    failed, empty, total = [], [], 0
    for d in dashboards:
        variables = dashboard_variables(d.data)
        for panel in iter_panels(d.data.get("panels") or []):
            for target in panel.get("targets") or []:
                if not str(target.get("expr", "")).strip():
                    continue
                total += 1
                expr = expand(str(target["expr"]), variables)
                where = f"{d.uid} / {panel.get('title')!r} [{target.get('refId', '?')}]"
                try:
                    answer = prometheus.request(
                        "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
                    )
                except ApiError as exc:
                    if "HTTP 400" in str(exc) or "HTTP 422" in str(exc):
                        failed.append(f"{where}: {exc}")
                        continue
                    raise
                if answer.get("status") != "success":
                    failed.append(f"{where}: {answer.get('error')}")
                elif not answer["data"]["result"] and answer["data"]["resultType"] in (
                    "vector",
                    "matrix",
                ):
                    empty.append(f"{where}: no data for {expr}")
    return failed, empty, total


# ----------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/monitoring/dashboard-checker.py",
        description="Compare the dashboards in git with Grafana; apply them; check their queries.",
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
        "--grafana-url",
        default=os.environ.get("GRAFANA_URL"),
        help="Grafana base URL (default: $GRAFANA_URL)",
    )
    parser.add_argument(
        "--folder-uid",
        default="snip",
        help="Grafana folder the dashboards belong in (default: %(default)s)",
    )
    parser.add_argument(
        "--folder-title",
        default="snip",
        help="title used when the folder is created (default: %(default)s)",
    )
    parser.add_argument(
        "--apply", action="store_true", help="create missing and update outdated dashboards"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --apply: say what would change, change nothing"
    )
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("PROMETHEUS_URL"),
        help="run every panel query here (default: $PROMETHEUS_URL)",
    )
    parser.add_argument(
        "--require-data", action="store_true", help="a query returning nothing counts as a failure"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds per HTTP request (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.dry_run and not args.apply:
        parser.error("--dry-run only makes sense with --apply")
    if args.apply and not args.grafana_url:
        parser.error("--apply needs --grafana-url (or GRAFANA_URL)")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code == 2 else int(exc.code or 0)

    dashboards, problems = load_dashboards(args.dashboards)
    result: dict[str, Any] = {"dashboards": [d.uid for d in dashboards], "invalid": problems}
    code = EXIT_OK
    if problems:
        code = EXIT_INVALID
    else:
        try:
            if args.grafana_url:
                grafana = grafana_client(args.grafana_url, args.timeout)
                report = compare(grafana, dashboards, args.folder_uid)
                result["grafana"] = report
                if args.apply:
                    ensure_folder(grafana, args.folder_uid, args.folder_title, args.dry_run)
                    apply(grafana, dashboards, report, args.folder_uid, args.dry_run)
                    if not args.dry_run:
                        result["grafana_after"] = compare(grafana, dashboards, args.folder_uid)
                        if (
                            result["grafana_after"]["missing"]
                            or result["grafana_after"]["outdated"]
                        ):
                            code = EXIT_DIFFERENT
                elif report["missing"] or report["outdated"] or report["unknown"]:
                    code = EXIT_DIFFERENT
            if args.prometheus_url:
                failed, empty, total = check_queries(
                    Http(args.prometheus_url, args.timeout), dashboards
                )
                result["queries"] = {"total": total, "failed": failed, "empty": empty}
                if failed or (args.require_data and empty):
                    code = max(code, EXIT_DIFFERENT)
        except ApiError as exc:
            result["error"] = str(exc)
            code = EXIT_UNREACHABLE

    print_report(result, as_json=args.json)
    return code


def print_report(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    print(f"dashboards in git: {', '.join(result['dashboards']) or 'none'}")
    for problem in result["invalid"]:
        print(f"INVALID   {problem}")
    for key in ("grafana", "grafana_after"):
        if key in result:
            label = "grafana" if key == "grafana" else "after apply"
            for state in ("in_sync", "missing", "outdated", "unknown"):
                for uid in result[key][state]:
                    print(f"{state.upper():<9} {uid}  ({label})")
    if "queries" in result:
        q = result["queries"]
        counts = f"{len(q['failed'])} failed, {len(q['empty'])} returned nothing"
        print(f"queries: {q['total']} run, {counts}")
        for line in q["failed"]:
            print(f"FAILED    {line}")
        for line in q["empty"]:
            print(f"EMPTY     {line}")
    if "error" in result:
        print(f"ERROR     {result['error']}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
