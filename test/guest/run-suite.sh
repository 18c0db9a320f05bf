#!/bin/sh
# The guest suite, run inside the Debian 12 guest as root by
#   node scripts/guest/run.mjs --pack test/guest/run-suite.sh [husk runc crun] [--no-conformance]
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
for a in "$@"; do
  case "$a" in
    --no-conformance) conformance=0 ;;
    *) runtimes="$runtimes $a" ;;
  esac
done
runtimes=${runtimes:-husk runc crun}

echo "guest: $(uname -r), $(systemctl --version | head -n1), $(stat -fc %T /sys/fs/cgroup)," \
  "root subtree_control at boot: '$(cat /sys/fs/cgroup/cgroup.subtree_control)'," \
  "AppArmor $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo absent)"
t0=$(date +%s)
work=/root/husk
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
husk_cut=0
# The job's time (run.mjs writes it): the focused checks first for every runtime, then the
# conformance suite while time remains; a step that would not fit says so and is cut.
budget=$(cat "$job/timeout" 2>/dev/null || echo 1800)
deadline=$(cat "$job/deadline" 2>/dev/null || echo $((t0 + budget)))
left() { echo $((deadline - $(date +%s) - 60)); }
for rt in $runtimes; do
  bin=$(bin_of "$rt")
  echo
  echo "=== $rt ($("$bin" --version 2>/dev/null | head -n1)): test/guest/v2-host.test.mjs"
  ts=$(date +%s)
  HUSK_GUEST=1 RUNTIME=$bin timeout "$(left)" node --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$job/results/$rt.tap" \
    test/guest/v2-host.test.mjs
  rc=$?
  echo "=== $rt: v2-host exit $rc in $(($(date +%s) - ts)) s"
  if [ "$rc" = 124 ]; then
    echo "=== $rt: v2-host CUT at the job's time limit"
    [ "$rt" = husk ] && husk_cut=1
  fi
  # Checkpoint and restore (issue 21): where criu check passes, which is here.
  case "$rt" in crun) continue ;; esac
  echo "=== $rt: test/guest/criu.test.mjs"
  ts=$(date +%s)
  RUNTIME=$bin timeout "$(left)" node --test --test-concurrency=1 --test-reporter=spec \
    --test-reporter-destination=stdout --test-reporter=tap --test-reporter-destination="$job/results/$rt-criu.tap" \
    test/guest/criu.test.mjs
  rc=$?
  echo "=== $rt: criu exit $rc in $(($(date +%s) - ts)) s"
  if [ "$rc" = 124 ]; then
    echo "=== $rt: criu CUT at the job's time limit"
    [ "$rt" = husk ] && husk_cut=1
  fi
done
if [ "$conformance" = 1 ]; then
  for rt in $runtimes; do
    bin=$(bin_of "$rt")
    if [ "$(left)" -lt 120 ]; then
      echo "=== $rt: conformance NOT RUN: $(left) s left before the job's deadline"
      continue
    fi
    ts=$(date +%s)
    RUNTIME=$bin timeout "$(left)" node conformance/run.mjs >"$job/results/$rt-conformance.log" 2>&1
    rc=$?
    tail -n 4 "$job/results/$rt-conformance.log"
    cp conformance/results/*.json "$job/results/" 2>/dev/null
    [ "$rc" = 124 ] && echo "=== $rt: conformance CUT at the job's time limit"
    echo "=== $rt: conformance exit $rc in $(($(date +%s) - ts)) s"
  done
fi
echo
node test/guest/side-by-side.mjs "$job/results" $runtimes
rc=$?
# A husk run that was cut has no verdict: that fails too.
[ "$husk_cut" = 1 ] && exit 1
exit "$rc"
