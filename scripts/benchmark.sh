#!/usr/bin/env bash
# Runs the published benchmark protocol and writes its report (issue 7).
#
# Usage: scripts/benchmark.sh [--quick | --protocol FILE] [--out DIR] [--build DIR]
#                             [--jobs N]
#   (default)  the full protocol, integration/benchmark/protocol/full.yaml:
#              runs under --out (default build/benchmark), report written to
#              docs/results.md with the plots in docs/results/*.svg and
#              every cell's numbers in docs/results/results.json.
#   --quick    the test suite's reduced protocol, .../protocol/quick.yaml:
#              runs AND report only under --out (default
#              build/benchmark-quick): OUT/results.md, OUT/results/*.svg,
#              OUT/results/results.json.
#   --protocol FILE  another protocol (same format); like --quick, runs and
#              report only under --out (default build/benchmark-<file name>).
#   --build D  use the binaries of the build directory D (D/plugin/
#              flsentry-simulate, libflsentry_filter.so,
#              flsentry-benchmark-report); default: build them with
#              `scripts/build.sh release`.
#   --jobs N   simulations at a time (default 2), each with 1 LibTorch thread.
#
# A protocol file (YAML, documented in full.yaml) names the base simulation
# config, rounds, attack start round, seeds, malicious fractions, attacks
# (whose type and params are read from configs/sim/attack_<name>.yaml when
# this script starts), aggregators, and other shapes (clients, participation,
# label skew, model) run without attack (honest_shapes) or under the
# detection attacks (detection_shapes). `flsentry-benchmark-report plan`
# expands it into OUT/runs/<id>/sim.yaml (+ policy.yaml, a copy of the
# protocol's policy as it is when the plan is made, for filter runs, so the
# filter's state and audit files land in the run's own directory; an oracle
# attack against another aggregator gets the same copy for its shadow filter,
# --oracle-plugin); each run writes rounds.jsonl, summary.json and sim.log
# there. Run ids are <shape>-<fNN>-<attack>-<aggregator>-s<seed>.
#
# Resume: a run whose summary.json exists is skipped, so an interrupted
# benchmark continues where it stopped (the planner refuses if such a run's
# config would now differ; delete its directory to rerun it). A run that did
# not finish is started again from scratch.
#
# Progress: on a terminal one updating line (runs done / total, elapsed, ETA);
# otherwise one line per finished run. Exit code 0 when every run finished and
# the report was written, 1 otherwise (the report lists unfinished runs).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
invocation="scripts/benchmark.sh${*:+ $*}"

quick=0
protocol=""
out=""
build=""
jobs=2
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --protocol) protocol="${2:?--protocol needs a file}"; shift ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    --build) build="${2:?--build needs a directory}"; shift ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift ;;
    -h|--help) sed -n '2,42p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "benchmark: error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
  shift
done
if ! [[ "$jobs" =~ ^[1-9][0-9]?$ ]]; then
  echo "benchmark: error: --jobs must be a number in 1..99" >&2
  exit 1
fi

if [[ -n "$protocol" ]]; then
  if ((quick)); then
    echo "benchmark: error: --quick and --protocol exclude each other" >&2
    exit 1
  fi
  [[ -f "$protocol" ]] || { echo "benchmark: error: $protocol: no such file" >&2; exit 1; }
  protocol="$(cd "$(dirname "$protocol")" && pwd)/$(basename "$protocol")"
  name="$(basename "$protocol")"
  out="${out:-$repo/build/benchmark-${name%.*}}"
  results="$out/results.md"
  svg_dir="$out/results"
elif ((quick)); then
  protocol="$repo/integration/benchmark/protocol/quick.yaml"
  out="${out:-$repo/build/benchmark-quick}"
  results="$out/results.md"
  svg_dir="$out/results"
else
  protocol="$repo/integration/benchmark/protocol/full.yaml"
  out="${out:-$repo/build/benchmark}"
  results="$repo/docs/results.md"
  svg_dir="$repo/docs/results"
fi

if [[ -z "$build" ]]; then
  "$repo/scripts/build.sh" release --target flsentry-simulate flsentry_filter \
    flsentry-benchmark-report >&2
  build="$repo/build/release"
fi
bin="$(cd "$build" && pwd)/plugin"
for f in flsentry-simulate libflsentry_filter.so flsentry-benchmark-report; do
  if [[ ! -e "$bin/$f" ]]; then
    echo "benchmark: error: $bin/$f is missing (build it, or drop --build)" >&2
    exit 1
  fi
done

mkdir -p "$out"
out="$(cd "$out" && pwd)"
"$bin/flsentry-benchmark-report" plan --protocol "$protocol" --repo "$repo" --out "$out" >/dev/null

mapfile -t plan_lines <"$out/plan.tsv"
total=${#plan_lines[@]}
pending=()
for line in "${plan_lines[@]}"; do
  IFS=$'\t' read -r id dir filter <<<"$line"
  [[ -f "$dir/summary.json" ]] || pending+=("$line")
done
resumed=$((total - ${#pending[@]}))

# The commit the runs start from (the binaries were built before this point).
commit="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit="$commit (work tree modified)"
fi

tty=0
[[ -t 2 ]] && tty=1
start=$(date +%s)
finished=0
failed=0
declare -A running=()  # run id -> "pid<TAB>dir"

format_seconds() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

progress() {  # $1: the run that just finished (empty: none yet)
  local now elapsed eta="?" done_runs
  now=$(date +%s)
  elapsed=$((now - start))
  done_runs=$((resumed + finished))
  if ((finished > 0)); then
    eta=$(format_seconds $((elapsed * (total - done_runs) / finished)))
  fi
  local text
  text="runs $done_runs/$total done ($failed failed, $resumed resumed)  elapsed $(format_seconds "$elapsed")  ETA $eta"
  if ((tty)); then
    printf '\r\033[K[benchmark] %s' "$text" >&2
  elif [[ -n "$1" ]]; then
    echo "benchmark: $1  $text" >&2
  fi
}

# One simulation in the background; its exit code lands in DIR/exit_code.
start_run() {
  local id="$1" dir="$2" filter="$3"
  # A run that did not finish starts from scratch (the filter's state file
  # from a half run would otherwise carry over).
  find "$dir" -mindepth 1 -maxdepth 1 ! -name sim.yaml ! -name policy.yaml -exec rm -rf {} +
  local args=(--config "$dir/sim.yaml" --out "$dir" --threads 1)
  if ((filter == 1)); then
    args+=(--plugin "$bin/libflsentry_filter.so" --filter-config "$dir/policy.yaml")
  elif ((filter == 2)); then  # an oracle attack's shadow, no filter
    args+=(--oracle-plugin "$bin/libflsentry_filter.so" --oracle-filter-config "$dir/policy.yaml")
  fi
  (
    rc=0
    "$bin/flsentry-simulate" "${args[@]}" >"$dir/sim.log" 2>&1 &
    echo "$!" >"$dir/sim.pid"
    wait "$!" || rc=$?
    echo "$rc" >"$dir/exit_code"
  ) &
  running["$id"]="$!"$'\t'"$dir"
}

# Waits for one simulation to end and accounts for every one that has ended.
reap() {
  wait -n || true
  local id pid dir rc
  for id in "${!running[@]}"; do
    IFS=$'\t' read -r pid dir <<<"${running[$id]}"
    if [[ ! -f "$dir/exit_code" ]]; then
      kill -0 "$pid" 2>/dev/null && continue
      echo 255 >"$dir/exit_code"  # the wrapper died without a word
    fi
    wait "$pid" 2>/dev/null || true
    rc=$(<"$dir/exit_code")
    unset "running[$id]"
    finished=$((finished + 1))
    if [[ "$rc" != 0 ]]; then
      failed=$((failed + 1))
      ((tty)) && printf '\n' >&2
      echo "benchmark: run $id failed (exit $rc): $(tail -n 1 "$dir/sim.log" 2>/dev/null)" >&2
    fi
    progress "$id"
  done
}

stop_all() {
  local id pid dir
  for id in "${!running[@]}"; do
    IFS=$'\t' read -r pid dir <<<"${running[$id]}"
    [[ -f "$dir/sim.pid" ]] && kill "$(<"$dir/sim.pid")" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  echo >&2
  echo "benchmark: interrupted; rerun the same command to resume" >&2
  exit 130
}
trap stop_all INT TERM

echo "benchmark: protocol $(basename "$protocol"): $total runs ($resumed already done), $jobs at a time, output $out" >&2
progress ""
for line in "${pending[@]}"; do
  IFS=$'\t' read -r id dir filter <<<"$line"
  while ((${#running[@]} >= jobs)); do reap; done
  start_run "$id" "$dir" "$filter"
done
while ((${#running[@]} > 0)); do reap; done
((tty)) && printf '\n' >&2
trap - INT TERM

wall=$(($(date +%s) - start))
# The report writes every plot anew; plots of an older protocol would linger.
rm -f "$svg_dir"/*.svg
report_args=(--out "$out" --results "$results" --svg-dir "$svg_dir"
  --command "$invocation" --commit "$commit" --wall-seconds "$wall"
  --runs-executed "$finished" --jobs "$jobs"
  --load "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)")
# Notes written by hand on a full run's results go under "Notes" in results.md.
if [[ "$results" == "$repo/docs/results.md" && -f "$repo/docs/results/notes.md" ]]; then
  report_args+=(--notes "$repo/docs/results/notes.md")
fi
"$bin/flsentry-benchmark-report" report "${report_args[@]}"
echo "benchmark: $((total - failed))/$total runs finished in $(format_seconds "$wall"); report: $results" >&2
((failed == 0))
