#!/usr/bin/env bash
# The alerting config checked by the real tools (Debian's prometheus and prometheus-alertmanager
# packages: promtool, amtool), as `make lint` runs it:
#   Prometheus' config and the alert rules it loads, the rules' unit tests (every rule fires when
#   it should and stays quiet when it should not), and Alertmanager's config with its templates,
#   both as committed and as the tests and the demo render it (floor/devnet/alertmanager.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

for tool in promtool amtool; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/bin/$tool" ]; then
    echo "$tool is missing: apt-get install -y prometheus prometheus-alertmanager (make monitoring-tools)" >&2
    exit 1
  fi
done
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
AMTOOL=$(command -v amtool || echo /usr/bin/amtool)

"$PROMTOOL" check config deploy/prometheus/prometheus.yml
"$PROMTOOL" check rules deploy/prometheus/rules/*.yml
"$PROMTOOL" test rules deploy/prometheus/tests/*.yml
"$AMTOOL" check-config deploy/alertmanager/alertmanager.yml

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
"$PY" - "$rendered/alertmanager.yml" <<'PYTHON'
import sys
from pathlib import Path

from floor.devnet.alertmanager import Destinations, Timing, render_config, write_config

loopback = Destinations.loopback(
    smtp_port=2525, slack_url="http://127.0.0.1:9/slack", pagerduty_url="http://127.0.0.1:9/pagerduty"
)
write_config(Path(sys.argv[1]), render_config(loopback, Timing(1, 1, 4)))
PYTHON
"$AMTOOL" check-config "$rendered/alertmanager.yml"
