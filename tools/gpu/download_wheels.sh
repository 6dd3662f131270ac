#!/usr/bin/env bash
# Downloads tools/gpu/wheels.txt's wheels for the GPU machine (CPython 3.12, manylinux x86_64), slims bitsandbytes, and
# prints each wheel's size and the total that a device call carries (the wheels plus this working tree; the limit is 64 MiB).
#
#   bash tools/gpu/download_wheels.sh [DIR]          # default tools/gpu/wheels (ignored by git; the device call carries it)
#   bash tools/gpu/download_wheels.sh --local DIR    # the same pins for this machine's interpreter (.ci/gpu_rehearsal)
#
# Removes the *.whl files already in DIR first, so that DIR holds exactly the list. PYTHON (default python3) runs pip.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${PYTHON:-python3}
tags=(--python-version 3.12 --implementation cp --abi cp312
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64
      --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
what="CPython 3.12, manylinux x86_64"
if [ "${1:-}" = --local ]; then tags=(); what="this interpreter, $("$py" -c 'import sys; print("CPython %d.%d" % sys.version_info[:2])')"; shift; fi
dir=${1:-$here/wheels}
mkdir -p "$dir"
rm -f "$dir"/*.whl

echo "download_wheels: $(grep -c '^[^#[:space:]]' "$here/wheels.txt") wheels for $what into $dir"
"$py" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --quiet --dest "$dir" "${tags[@]}" -r "$here/wheels.txt" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$py" "$here/gpu_env.py" slim-bitsandbytes "$dir"

# sizes, and what one device call carries: these wheels and the working tree (tracked and untracked-not-ignored files)
ls -l "$dir"/*.whl | awk '{printf "  %7.2f MB  %s\n", $5/1e6, $NF}' | sed "s|$dir/||"
w=$(cat "$dir"/*.whl | wc -c)
if git -C "$here" rev-parse --show-toplevel > /dev/null 2>&1; then
  repo=$(cd "$here/../.." && git ls-files -co --exclude-standard -z | xargs -0 -r cat 2>/dev/null | wc -c) || true
else repo=$(du -sb --exclude=.git --exclude=wheels "$here/../.." | cut -f1); fi   # not a git checkout: everything but .git
awk -v w="$w" -v r="$repo" 'BEGIN { printf "download_wheels: wheels %.1f MiB (%.1f MB), working tree %.1f MiB: %.1f MiB of the 64 MiB a device call carries\n", w/2^20, w/1e6, r/2^20, (w+r)/2^20
  if ((w+r)/2^20 > 60) { print "download_wheels: over 60 MiB"; exit 1 } }'
