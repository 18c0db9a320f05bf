#!/bin/sh
# A focused guest run: only test/guest/criu-ctr.test.mjs (ctr task checkpoint / container
# restore through containerd's runc shim), for runc and for husk, e.g.
#   flock /tmp/husk-guest.lock node scripts/guest/run.mjs --pack test/guest/run-criu-ctr.sh
set -u
job=${HUSK_JOB:-/tmp}
work=/root/husk
rm -rf "$work" && mkdir -p "$work"
tar -C "$work" -xf "$job/src.tar"
cd "$work" || exit 1
echo "guest: $(uname -r), $(criu --version | head -n1), $(containerd --version), criu check: $(criu check 2>&1 | tail -n1)"
rc=0
for rt in runc husk; do
  case $rt in husk) bin=$work/bin/husk ;; *) bin=$(command -v runc) ;; esac
  ts=$(date +%s)
  echo "=== $rt: test/guest/criu-ctr.test.mjs"
  RUNTIME=$bin node --test --test-concurrency=1 --test-reporter=spec test/guest/criu-ctr.test.mjs || rc=1
  echo "=== $rt: criu-ctr.test.mjs done in $(($(date +%s) - ts)) s"
done
exit $rc
