#!/usr/bin/env bash
# Installs what the tests and benchmarks need on a Debian machine, idempotently:
# Chromium (the HTML report is checked in a real browser) and wrk (a reference
# load generator for the benchmark). Needs root for apt-get; does nothing when
# everything is present.
set -euo pipefail

want=()
command -v chromium >/dev/null 2>&1 || want+=(chromium)
if [[ "${1:-}" == "--bench" ]]; then
	command -v wrk >/dev/null 2>&1 || want+=(wrk)
fi
if ((${#want[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "missing: ${want[*]}; install them with: sudo apt-get install -y ${want[*]}" >&2
	exit 1
fi
echo "installing ${want[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
