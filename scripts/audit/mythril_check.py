"""Mythril (symbolic execution of EVM bytecode) on the FloorExecutor, which Slither cannot read
(Vyper 0.4's AST). The executor is compiled with `--optimize none` for this run: Vyper's
optimised builds dispatch through a jump table that Mythril cannot follow past (it reports the
table's computed jump and stops there). Every issue of Medium or High severity fails (exit 1)
unless triaged in `docs/audit/mythril-triage.json` by its SWC id and title.

    .venv-mythril/bin/python scripts/audit/mythril_check.py [--timeout-s 240]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYTH = Path(sys.executable).with_name("myth")
VYPER = ROOT / ".venv" / "bin" / "vyper"
TRIAGE = ROOT / "docs" / "audit" / "mythril-triage.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=int, default=240, help="Mythril's execution timeout")
    args = parser.parse_args()
    runtime = subprocess.run(
        [str(VYPER), "--optimize", "none", "-f", "bytecode_runtime", str(ROOT / "contracts/src/FloorExecutor.vy")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "executor.bin"
        code.write_text(runtime.removeprefix("0x"))
        command = ["analyze", "--bin-runtime", "-f", str(code), "--execution-timeout", str(args.timeout_s)]
        ran = subprocess.run(
            [str(MYTH), *command, "-t", "2", "-o", "json"],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
    report = json.loads(ran.stdout)
    if report.get("error"):
        print(f"mythril: {report['error']}")
        return 1
    triaged = {(t["swc-id"], t["title"]) for t in json.loads(TRIAGE.read_text())["findings"]}
    issues = [i for i in report["issues"] if i["severity"] in ("High", "Medium")]
    new = [i for i in issues if (i["swc-id"], i["title"]) not in triaged]
    for i in new:
        print(f"untriaged {i['severity']} SWC-{i['swc-id']} {i['title']} in {i['function']} at pc {i['address']}")
    print(f"mythril: {len(report['issues'])} issues, {len(issues)} medium or high, {len(new)} untriaged")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
