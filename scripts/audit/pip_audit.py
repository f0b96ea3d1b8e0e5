"""pip-audit of the engine's installed dependencies against PyPI's advisory data. A known
vulnerability fails (exit 1), naming the package, its version, the advisory and the fixed
versions. Where the advisory data cannot be reached (these machines reach the package index
only, which serves no advisories), every package is skipped: that is said in one line and does
not fail, so `make lint` runs everywhere and enforces where it can.

    .venv-audit/bin/python scripts/audit/pip_audit.py  (reads .venv's `pip freeze`)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


def main() -> int:
    frozen = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pip"), "freeze", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        requirements, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
        requirements.write_text(frozen)
        subprocess.run(
            [str(PIP_AUDIT), "-r", str(requirements), "--no-deps", "--disable-pip", "-f", "json", "-o", str(report)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if not report.exists():
            print("pip-audit: no report (the advisory service did not answer)")
            return 0
        dependencies = json.loads(report.read_text())["dependencies"]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    for d in vulnerable:
        for v in d["vulns"]:
            print(f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release'})")
    if len(skipped) == len(dependencies):
        print(
            f"pip-audit: PyPI's advisory data is not reachable from here: none of {len(dependencies)} packages checked"
        )
        return 0
    checked = len(dependencies) - len(skipped)
    print(
        f"pip-audit: {checked} packages checked, {len(vulnerable)} with known vulnerabilities, {len(skipped)} skipped"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
