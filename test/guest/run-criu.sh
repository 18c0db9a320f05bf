#!/bin/sh
# A focused guest run: only test/guest/criu*.test.mjs, for husk and for runc, e.g.
#   flock /tmp/husk-guest.lock node scripts/guest/run.mjs --pack test/guest/run-criu.sh
set -u
job=${HUSK_JOB:-/tmp}
work=/root/husk
rm -rf "$work" && mkdir -p "$work"
tar -C "$work" -xf "$job/src.tar"
cd "$work" || exit 1
echo "guest: $(uname -r), $(criu --version | head -n1), criu check: $(criu check 2>&1 | tail -n1)"
rc=0
for rt in husk runc; do
  case $rt in husk) bin=$work/bin/husk ;; *) bin=$(command -v runc) ;; esac
  ts=$(date +%s)
  echo "=== $rt: test/guest/criu.test.mjs"
  RUNTIME=$bin node --test --test-concurrency=1 --test-reporter=spec test/guest/criu.test.mjs test/guest/criu-runc-cases.test.mjs test/guest/criu-ctr.test.mjs || rc=1
  echo "=== $rt: criu.test.mjs done in $(($(date +%s) - ts)) s"
done
exit $rc
