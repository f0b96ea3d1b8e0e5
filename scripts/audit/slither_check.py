"""Slither on the engine's own Solidity (`contracts/src/valuers`: views the executor's loss bound
reads; the protocol stand-ins are test peers, out of the audit's scope), compiled by the pinned solcjs (`scripts/audit/solc.mjs`),
every finding checked against its triage in `docs/audit/slither-triage.json`: a finding with no
triage fails (exit 1), naming it; a triage whose finding is gone is reported as stale.

Run by `make audit` with the audit tools' own venv (Slither pins its own web3). Slither cannot
read the executor (Vyper 0.4's AST); `scripts/audit/mythril_check.py` covers its bytecode.

    .venv-audit/bin/python scripts/audit/slither_check.py [--write-new]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

from crytic_compile import CryticCompile
from crytic_compile.platform.solc_standard_json import SolcStandardJson
from slither import Slither
from slither.detectors import all_detectors
from slither.detectors.abstract_detector import AbstractDetector

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "contracts" / "src" / "valuers"
TRIAGE = ROOT / "docs" / "audit" / "slither-triage.json"


def findings() -> list[dict]:
    target = SolcStandardJson()
    target.add_source_files(sorted(str(p.relative_to(ROOT)) for p in SOURCES.rglob("*.sol")))
    target.to_dict().setdefault("settings", {})["evmVersion"] = "cancun"
    compiled = CryticCompile(target, solc=str(ROOT / "scripts" / "audit" / "solc.mjs"), solc_working_dir=str(ROOT))
    slither = Slither(compiled)
    for detector in vars(all_detectors).values():
        if inspect.isclass(detector) and issubclass(detector, AbstractDetector):
            slither.register_detector(detector)
    found = []
    for results in slither.run_detectors():
        for r in results:
            first = r["description"].strip().splitlines()[0]
            found.append({"id": r["id"], "check": r["check"], "impact": r["impact"], "first_line": first})
    return sorted(found, key=lambda f: (f["check"], f["first_line"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-new", action="store_true", help="add untriaged findings to the triage file")
    args = parser.parse_args()
    triage = json.loads(TRIAGE.read_text()) if TRIAGE.exists() else {"findings": []}
    known = {t["id"]: t for t in triage["findings"]}
    found = findings()
    new = [f for f in found if f["id"] not in known]
    stale = sorted(set(known) - {f["id"] for f in found})
    for f in new:
        print(f"untriaged {f['impact']} {f['check']}: {f['first_line']}")
    for i in stale:
        print(f"stale triage (finding gone): {known[i]['check']}: {known[i]['first_line']}")
    print(f"slither: {len(found)} findings, {len(found) - len(new)} triaged, {len(new)} new, {len(stale)} stale")
    if args.write_new and new:
        triage["findings"] = sorted(
            [*triage["findings"], *({**f, "verdict": "TODO", "why": ""} for f in new)],
            key=lambda t: (t["check"], t["first_line"]),
        )
        TRIAGE.write_text(json.dumps(triage, indent=1) + "\n")
    return 1 if new or any(t.get("verdict") == "TODO" for t in triage["findings"]) else 0


if __name__ == "__main__":
    sys.exit(main())
