#!/usr/bin/env bash
# Builds the own-app example's image, localhost/rehearse/shop:example, into the
# local podman store without any registry: a static Go binary on an empty
# base. Idempotent: podman's build cache makes a second run instant.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=scenarios/examples/own-app
image=${1:-localhost/rehearse/shop:example}
engine=${REHEARSE_ENGINE:-podman}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/shop" "./$dir/app"
cp "$dir/Containerfile" "$work/Containerfile"
"$engine" build -q -t "$image" -f "$work/Containerfile" "$work" >/dev/null
echo "$image"
