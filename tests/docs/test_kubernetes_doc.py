"""docs/kubernetes.md's first-install steps are exactly what deploy.sh does, in order.

The numbered list between the `deploy-steps` markers must equal the numbered steps in
deploy.sh's header comment; tests/scripts/test_deploy.py proves the script's calls
follow that order against a recording kubectl.
"""

from __future__ import annotations

import re

from tests.support.servers import REPO_ROOT


def steps(text: str) -> list[str]:
    """Numbered items ("1. ...", continued on indented lines), whitespace-normalized."""
    items: list[str] = []
    for line in text.splitlines():
        line = line.lstrip("#").rstrip()
        if m := re.match(r"\s*(\d+)\.\s+(.*)", line):
            assert int(m.group(1)) == len(items) + 1, f"step numbers out of order: {line!r}"
            items.append(m.group(2))
        elif items and line.startswith("   ") and line.strip():
            items[-1] += " " + line.strip()
        elif items:
            break
    return [" ".join(i.split()) for i in items]


def test_first_install_lists_deploy_sh_steps_in_order():
    doc = (REPO_ROOT / "docs" / "kubernetes.md").read_text()
    documented = steps(doc.split("<!-- deploy-steps -->", 1)[1].split("<!-- /deploy-steps -->")[0])
    script = (REPO_ROOT / "scripts" / "deployment" / "deploy.sh").read_text()
    header = script.split("In this order", 1)[1].split("set -euo pipefail")[0]
    header = header[header.index("#   1.") :]
    assert documented == steps(header)
    assert len(documented) == 5
