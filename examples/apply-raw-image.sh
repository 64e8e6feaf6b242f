#!/bin/sh
# Sets up and imports examples/apply-raw-image.json: makes a small raw disk image, stores it as a
# content item (SingleFile, OperatingSystem), activates its version 1, and imports the task sequence
# with its Image slot pointing at that content item. Run from the repository, with the service's home
# (DEPLOYR_HOME or --home) as for any deployr command. Uses `deployr` from PATH, else `npx deployr`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if command -v deployr >/dev/null 2>&1; then deployr() { command deployr "$@"; }; else deployr() { npx --no-install deployr "$@"; }; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A 4 MiB "disk": a recognisable first sector, then zeros.
printf 'deployr example raw image\n' > "$work/example-disk.img"
truncate -s 4M "$work/example-disk.img"

created=$(deployr content create --name 'Example raw image' --purpose OperatingSystem --type SingleFile)
echo "$created"
id=$(printf '%s\n' "$created" | sed -n 's/.*(\([0-9a-f-]\{36\}\)).*/\1/p')
[ -n "$id" ] || { echo "could not read the content item's id from: $created" >&2; exit 1; }
deployr content add-version "$id" "$work/example-disk.img"
deployr content activate "$id" 1

sed "s/e0a11d00-0000-4000-8000-00000000c0de/$id/" "$here/apply-raw-image.json" > "$work/apply-raw-image.json"
deployr ts import "$work/apply-raw-image.json"
echo "Run it with: deployr client --server https://localhost:7281 --ca ~/.deployr/tls/server.crt --ts e0a11d00-0000-4000-8000-000000000002 [--var TargetDevice=/path/to/file.img]"
