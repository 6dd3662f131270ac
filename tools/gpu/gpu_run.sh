#!/usr/bin/env bash
# The GPU machine's run: r1aqa_gpu_check for the presets that fit one H200, on the image's Python with tools/gpu/wheels.txt on top.
#
#   bash tools/gpu/gpu_run.sh WHEEL_DIR OUT_DIR [r1aqa_gpu_check options: --tiny, --steps N, --eval_items N, --presets a,b]
#
# Offline from start to end: the wheels install with `pip --no-index` from WHEEL_DIR into a temporary folder put first on
# PYTHONPATH (the image's packages stay as they are), r1aqa imports from this repository, and the hub is off (HF_HUB_OFFLINE).
# Writes to OUT_DIR only small files, each as soon as it is known: gpu_run.log (everything printed), versions.json (what
# imports, from where), results.jsonl (one line per preset, appended as each finishes). The checkpoints (~16 GB each) go to a
# scratch folder under $GPU_RUN_SCRATCH (default $TMPDIR or /tmp), deleted after each preset.
# One process per preset, most valuable first, each limited to what is left of GPU_RUN_BUDGET_S (default 440 s, from the
# start of this script); a preset cut short gets a `skipped` line. Exit status: 0 when every preset ran, 1 when one failed
# or was skipped, 2 on a usage error, 3 when the wheels do not install or the versions are not the ones wanted.
set -uo pipefail
t0=$SECONDS
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ $# -ge 2 ] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
wheels=$(cd "$1" 2>/dev/null && pwd) || { echo "gpu_run: no wheel folder $1 (tools/gpu/download_wheels.sh makes it; a device call carries it: carry=[\"tools/gpu/wheels\"])"; exit 2; }
mkdir -p "$2" && out=$(cd "$2" && pwd) || exit 2
shift 2

presets="qlora-1gpu,lora-1gpu,omni-qlora-24gb"   # the presets that fit one H200 (r1aqa_plan), most valuable first: the R1-AQA model in 4-bit and in bf16, then Qwen2.5-Omni
opts=() tiny=""
while [ $# -gt 0 ]; do
  case $1 in
    --presets) presets=$2; shift 2;;
    --presets=*) presets=${1#*=}; shift;;
    --tiny) tiny=--tiny; opts+=("$1"); shift;;
    *) opts+=("$1"); shift;;
  esac
done

# No network, whatever the machine has: the hub, pip and transformers offline, pip's configuration ignored.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_REQUIREMENT
py=${PYTHON:-python3}
log=$out/gpu_run.log
: > "$log"
say() { echo "$@" | tee -a "$log"; }
scratch=$(mktemp -d -p "${GPU_RUN_SCRATCH:-${TMPDIR:-/tmp}}" r1aqa-gpu-run.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# 1. the wheels, on top of the image
say "gpu_run: $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])'), wheels from $wheels ($(du -sh "$wheels" | cut -f1)), budget ${GPU_RUN_BUDGET_S:-440} s"
site=$scratch/site
if "$py" -m pip --version > /dev/null 2>&1; then
  install=("$py" -m pip install --no-index --no-deps --only-binary=:all: --no-compile --find-links "$wheels" --target "$site" -r "$here/wheels.txt")
else   # an image without pip: the same wheels unzipped
  say "gpu_run: this python has no pip; unzipping the wheels instead"
  install=("$py" "$here/gpu_env.py" unpack "$here/wheels.txt" "$wheels" "$site")
fi
if ! "${install[@]}" >> "$log" 2>&1; then
  tail -5 "$log"; say "gpu_run: the wheels did not install (one missing for $("$py" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')?); tools/gpu/download_wheels.sh makes them"; exit 3
fi
touch "$site/.gpu_overlay"
export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}"
say "gpu_run: installed $(ls "$site" | grep -c '\.dist-info$') wheels after $((SECONDS-t0)) s"

# 2. the versions that import: exactly wheels.txt's from the wheels, settings.ini's requirements met, each wheel's requirements met
"$py" "$here/gpu_env.py" check "$here/wheels.txt" "$site" "$repo" --json "$out/versions.json" 2>&1 | grep -v "kernels-community" | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { say "gpu_run: the versions are not the ones wanted (above); nothing run"; exit 3; }

# 3. the presets, one process each
budget=${GPU_RUN_BUDGET_S:-440}
fail=0
IFS=, read -ra list <<< "$presets"
for p in "${list[@]}"; do
  left=$((budget - (SECONDS - t0)))
  if [ "$left" -lt 60 ]; then
    say "gpu_run: $p not run: ${left} s of the budget left"
    echo "{\"preset\": \"$p\", \"skipped\": \"not run: $left s of gpu_run's $budget s budget left\"}" >> "$out/results.jsonl"; fail=1; continue
  fi
  say "gpu_run: $p (at most $left s) ..."
  start=$SECONDS
  timeout -k 20 "$left" "$py" "$here/gpu_env.py" run r1aqa.gpucheck --presets "$p" --out "$scratch/$p" "${opts[@]}" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  if [ -s "$scratch/$p/results.jsonl" ]; then cat "$scratch/$p/results.jsonl" >> "$out/results.jsonl"; fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "{\"preset\": \"$p\", \"skipped\": \"cut short after $((SECONDS-start)) s (gpu_run's budget)\"}" >> "$out/results.jsonl"; fail=1
  elif [ "$rc" -ne 0 ] || [ ! -s "$scratch/$p/results.jsonl" ]; then
    echo "{\"preset\": \"$p\", \"skipped\": \"failed with exit $rc (gpu_run.log)\"}" >> "$out/results.jsonl"; fail=1
  elif grep -q '"skipped"' "$scratch/$p/results.jsonl"; then fail=1
  fi
  say "gpu_run: $p: exit $rc after $((SECONDS-start)) s"
  rm -rf "${scratch:?}/$p"
done

# 4. one table for all presets
"$py" "$here/gpu_env.py" table "$out/results.jsonl" $tiny 2>&1 | grep -v "kernels-community" | tee -a "$log"
say "gpu_run: done after $((SECONDS-t0)) s, exit $fail"
exit $fail
