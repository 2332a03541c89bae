#!/usr/bin/env bash
# Builds Traefik, the ingress controller of the ingress example
# (scenarios/examples/ingress-load.yaml), from its source in the Go module
# proxy into the local podman store as localhost/rehearse/traefik:VERSION,
# without any registry: a static binary on an empty base. Idempotent: an
# image of that tag already built is kept, and the compiled binary is cached
# under ~/.cache/rehearse, so only the first run compiles (several minutes
# on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${TRAEFIK_VERSION:-v3.6.12}
image=localhost/rehearse/traefik:$version
engine=${REHEARSE_ENGINE:-podman}
module=github.com/traefik/traefik/v3
if "$engine" image exists "$image" 2>/dev/null; then
	echo "$image"
	exit 0
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/rehearse/traefik/$version
mkdir -p "$cache"
if [ ! -x "$cache/traefik" ]; then
	# The module's own go.mod and go.sum pin every dependency; it is built
	# in place in the module cache, read-only.
	dir=$(GOFLAGS=-mod=mod GOWORK=off go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || { echo "build-ingress-controller: $module@$version: not in the Go module proxy" >&2; exit 1; }
	echo "build-ingress-controller: compiling $module@$version" >&2
	(cd "$dir" && GOFLAGS='-mod=readonly -buildvcs=false' GOWORK=off CGO_ENABLED=0 \
		go build -trimpath -ldflags "-s -w -X $module/pkg/version.Version=$version" -o "$cache/traefik.new" ./cmd/traefik)
	mv "$cache/traefik.new" "$cache/traefik"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$cache/traefik" "$work/traefik"
cat >"$work/Containerfile" <<EOC
FROM scratch
COPY traefik /traefik
LABEL io.rehearse.built-from="$module@$version"
ENTRYPOINT ["/traefik"]
EOC
"$engine" build -q -t "$image" -f "$work/Containerfile" "$work" >/dev/null
echo "$image"
