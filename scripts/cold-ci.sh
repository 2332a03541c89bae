#!/bin/bash
# cold-ci.sh [DIR]: runs .ci/run as on a fresh machine and prints how long it
# took. Empty podman storage, rehearse cache, Go build and module caches, in
# DIR (default /tmp/rehearse-cold), and a fresh clone of this repository's
# HEAD: the node images are built from source, nothing is reused. Debian
# packages already installed stay installed. Needs about 20 GB in DIR and
# 75 minutes of an otherwise idle machine of 2 cores.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/tmp/rehearse-cold}
rm -rf "$dir"
mkdir -p "$dir/storage" "$dir/run"
cat > "$dir/storage.conf" <<EOC
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/run"
EOC
export CONTAINERS_STORAGE_CONF=$dir/storage.conf
export XDG_CACHE_HOME=$dir/cache
export GOMODCACHE=$dir/gomod
export GOCACHE=$dir/cache/go-build
git clone -q "$repo" "$dir/src"
cd "$dir/src"
echo "images in the empty store: $(podman images --noheading | wc -l)"
start=$(date +%s)
set +e
./.ci/run 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%T)" "$line"; done
rc=${PIPESTATUS[0]}
echo "cold .ci/run: rc=$rc in $(( $(date +%s) - start ))s"
exit "$rc"
