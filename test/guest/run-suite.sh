#!/bin/sh
# The guest suite, run inside the Debian 12 guest as root by
#   node scripts/guest/run.mjs --pack test/guest/run-suite.sh [husk runc crun] [--no-conformance]
#     [--no-engines] [--only PATTERN]   (only the checks whose name matches: a focused run)
#   ... run-suite.sh --bench [bench/run.mjs flags]   the bench instead (issue 18 item 6)
# (test/guest/README.md). Copies the host's built checkout (node_modules and the addon are built
# on the host: both are Debian 12, same glibc) to the guest's disk, records the host's state as
# booted, then runs test/guest/v2-host.test.mjs and the conformance suite against each runtime,
# husk first: on a freshly booted host nothing has enabled cpu/io/cpuset in the root yet, which
# is what the first husk container must cope with. Prints one side-by-side table at the end and
# exits non-zero when husk fails a check (runc's and crun's results are the reference, not the
# verdict).
set -u
src=${HUSK_SRC:-/mnt/src}
job=${HUSK_JOB:-/tmp}
runtimes=""
conformance=1
engines=1
only=""
bench=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=1; shift; break ;;
    --no-conformance) conformance=0 ;;
    --no-engines) engines=0 ;;
    --only) only=$2; shift ;;
    *) runtimes="$runtimes $1" ;;
  esac
  shift
done
runtimes=${runtimes:-husk runc crun}

echo "guest: $(uname -r), $(systemctl --version | head -n1), $(stat -fc %T /sys/fs/cgroup)," \
  "root subtree_control at boot: '$(cat /sys/fs/cgroup/cgroup.subtree_control)'," \
  "AppArmor $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo absent)"
t0=$(date +%s)
# Not below /root (0700): the rootless checks' user must reach the runtime and the rootfs.
work=/opt/husk
rm -rf "$work"
mkdir -p "$work"
if [ -f "$job/src.tar" ]; then
  # run.mjs --pack: one file over 9p is fast, thousands are not.
  tar -C "$work" -xf "$job/src.tar"
else
  # Not the git history, not results from the host's runs, and not the build tools.
  tar -C "$src" --exclude=./.git --exclude=./conformance/results --exclude=./node_modules/typescript \
    --exclude=./node_modules/prettier --exclude=./node_modules/@esbuild --exclude=./node_modules/esbuild \
    --exclude=./node_modules/@types --exclude=./node_modules/node-gyp --exclude=./build/Release/obj.target \
    -cf - . | tar -C "$work" -xf -
fi
mkdir -p "$work/conformance/results"
cd "$work" || exit 1
echo "guest: checkout copied in $(($(date +%s) - t0)) s"

bin_of() {
  case "$1" in
    husk) echo "$work/bin/husk" ;;
    *) command -v "$1" ;;
  esac
}

mkdir -p "$job/results"

# The bench in the guest: husk CLI, husk+server and runc in one table (bench/run.mjs), then the
# same with crun in runc's column, in one boot; a guest figure is comparable only within a run.
if [ -n "$bench" ]; then
  virt=$(systemd-detect-virt 2>/dev/null || echo unknown)
  case "$virt" in
    kvm) accel=KVM ;;
    qemu) accel="TCG (emulated: ~10x slower than the host)" ;;
    *) accel="$virt" ;;
  esac
  echo "guest bench: $accel, $(nproc) CPUs, $(uname -r), $(stat -fc %T /sys/fs/cgroup)"
  rc=0
  for ref in runc crun; do
    echo
    # bench/run.mjs names its reference "runc"; the table's header line gives the binary.
    echo "=== bench: husk, husk+server, and $ref in the column named runc ($(bin_of "$ref"))"
    timeout "$(( $(cat "$job/deadline" 2>/dev/null || echo $(($(date +%s) + 1800))) - $(date +%s) - 60 ))" \
      node bench/run.mjs --runc "$(bin_of "$ref")" --out "$job/results/bench-$ref" "$@" || rc=$?
  done
  exit "$rc"
fi

checks="test/guest/v2-host.test.mjs test/guest/cgroup-modes.test.mjs test/guest/rootless.test.mjs"
# The job's time (run.mjs writes it). husk's steps all come first, then the references' (runc,
# crun) while time remains: the verdict is husk's, and a reference step that would not fit is
# cut and says so. A husk step that is cut fails the suite (it has no verdict).
budget=$(cat "$job/timeout" 2>/dev/null || echo 1800)
deadline=$(cat "$job/deadline" 2>/dev/null || echo $((t0 + budget)))
left() { echo $((deadline - $(date +%s) - 60)); }
husk_failed=""
# Emulated (TCG): a podman run with husk's CLI took 23 s in the guest, over the 20 s a command
# gets on a host; the suites' waits stretch by this much (test/lib/core/run.mjs).
scale=1
[ "$(systemd-detect-virt 2>/dev/null)" = qemu ] && scale=6
export HUSK_TEST_TIMEOUT_SCALE=$scale

# step NAME RUNTIME TAP MIN ENV node-test-args...: runs one node:test step with the time left
# (ENV: VAR=value words for its environment), records husk's failures and cuts. MIN: the seconds
# a step needs to be worth starting. RUNTIME "both": a file with husk and runc rows.
step() {
  local name=$1 rt=$2 tap=$3 min=$4 envs=$5 ts rc
  shift 5
  if [ "$(left)" -lt "$min" ]; then
    echo "=== $name: NOT RUN: $(left) s left before the job's deadline"
    [ "$rt" = husk ] && husk_failed="$husk_failed $name(not-run)"
    return
  fi
  ts=$(date +%s)
  echo
  echo "=== $name"
  # shellcheck disable=SC2086
  timeout "$(left)" env $envs node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$job/results/$tap" "$@"
  rc=$?
  echo "=== $name: exit $rc in $(($(date +%s) - ts)) s"
  [ "$rc" = 124 ] && echo "=== $name: CUT at the job's time limit"
  if [ "$rt" = husk ] && [ "$rc" != 0 ]; then
    husk_failed="$husk_failed $name"
  elif [ "$rt" = both ] && grep -q '^ *not ok .*\[husk\]' "$job/results/$tap" 2>/dev/null; then
    # Files that run husk and runc side by side: a husk row that fails fails the suite.
    husk_failed="$husk_failed $name"
  elif [ "$rt" = both ] && [ "$rc" = 124 ]; then
    husk_failed="$husk_failed $name(cut)"
  fi
}

checks_of() {
  local bin
  bin=$(bin_of "$1")
  # shellcheck disable=SC2086
  step "$1 ($("$bin" --version 2>/dev/null | head -n1)): checks" "$1" "$1.tap" 60 "HUSK_GUEST=1 RUNTIME=$bin" \
    ${only:+--test-name-pattern="$only"} $checks
  # Checkpoint and restore (issue 21): where criu check passes, which is here. crun's criu
  # support is not a reference husk follows.
  [ "$1" = crun ] && return
  step "$1: test/guest/criu.test.mjs criu-runc-cases.test.mjs criu-ctr.test.mjs" "$1" "$1-criu.tap" 60 "RUNTIME=$bin" \
    ${only:+--test-name-pattern="$only"} test/guest/criu.test.mjs test/guest/criu-runc-cases.test.mjs test/guest/criu-ctr.test.mjs
}

conformance_of() {
  local rt=$1 bin ts rc via
  bin=$(bin_of "$rt")
  if [ "$(left)" -lt 120 ]; then
    echo "=== $rt: conformance NOT RUN: $(left) s left before the job's deadline"
    [ "$rt" = husk ] && husk_failed="$husk_failed conformance(not-run)"
    return
  fi
  ts=$(date +%s)
  # husk through its server: under TCG every start of husk's Node CLI costs ~4 s, so the 266
  # checks' calls take ~45 min on the CLI; through the server the same runtime code runs
  # (the CLI path is what the host's conformance run covers). runc and crun are Go and C.
  via=""
  [ "$rt" = husk ] && via=--server
  echo
  echo "=== $rt: conformance${via:+ (every call through a husk server)}"
  RUNTIME=$bin timeout "$(left)" node conformance/run.mjs $via >"$job/results/$rt-conformance.log" 2>&1
  rc=$?
  tail -n 4 "$job/results/$rt-conformance.log"
  cp conformance/results/*.json "$job/results/" 2>/dev/null
  [ "$rc" = 124 ] && echo "=== $rt: conformance CUT at the job's time limit"
  if [ "$rt" = husk ] && [ "$rc" != 0 ]; then
    husk_failed="$husk_failed conformance"
    # What failed, not only its id: the job's files do not outlive the guest.
    grep -A 14 '^✖' "$job/results/$rt-conformance.log" | head -n 80
  fi
  echo "=== $rt: conformance exit $rc in $(($(date +%s) - ts)) s"
}

# husk first: on a freshly booted host nothing has enabled cpu/io/cpuset in the root yet, which
# is what the first husk container must cope with.
case " $runtimes " in *" husk "*) checks_of husk ;; esac

# Rootless podman (issue 23 item 1) runs husk and runc side by side in one file.
if [ -z "$only" ] || echo "rootless podman" | grep -qE "$only"; then
  step "rootless podman, husk and runc: test/engines/rootless-podman.test.mjs" both podman-rootless.tap 120 "" \
    ${only:+--test-name-pattern="$only"} test/engines/rootless-podman.test.mjs
fi
# The engines with each cgroup driver (podman --cgroup-manager, dockerd native.cgroupdriver,
# ctr --runc-systemd-cgroup), husk and runc side by side: the everyday calls and the limits.
engine_ops='run --rm echo|run -d/exec|--memory|--cpus|--pids-limit|places the container'
if [ "$engines" = 1 ]; then
  for drv in systemd cgroupfs; do
    step "engines, $drv cgroup driver, husk and runc: test/engines/engines.test.mjs ($engine_ops)" both \
      "engines-$drv.tap" 180 "HUSK_ENGINES_CGROUP=$drv HUSK_ENGINES_RUNTIMES=husk,runc" --test-name-pattern="${only:-$engine_ops}" test/engines/engines.test.mjs
  done
fi
case " $runtimes " in *" husk "*) [ "$conformance" = 1 ] && conformance_of husk ;; esac

# The references, while time remains.
for rt in $runtimes; do
  [ "$rt" = husk ] || checks_of "$rt"
done
if [ "$conformance" = 1 ]; then
  for rt in $runtimes; do
    [ "$rt" = husk ] || conformance_of "$rt"
  done
fi
echo
node test/guest/side-by-side.mjs "$job/results" $runtimes
rc=$?
if [ -n "$husk_failed" ]; then
  echo "husk: failed or not finished in the guest:$husk_failed"
  exit 1
fi
exit "$rc"
