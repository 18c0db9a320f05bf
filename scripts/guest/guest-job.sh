#!/bin/sh
# Runs inside the guest (husk-guest-job.service): mounts the host's checkout (9p tag "src",
# read-only) and the job directory (tag "job", read-write), runs job/run.sh as root with the
# checkout's path in HUSK_SRC, leaves its output and exit code in job/output and job/rc, and
# powers the guest off. The serial console gets the same exit code between markers, so the host
# has an answer even when the job share is broken.
set -u
mkdir -p /mnt/src /mnt/job
opts=trans=virtio,version=9p2000.L,msize=524288
mount -t 9p -o "$opts,ro" src /mnt/src && mount -t 9p -o "$opts,cache=none" job /mnt/job
rc=$?
if [ "$rc" = 0 ]; then
  echo "husk-guest: job starting (cgroup: $(stat -fc %T /sys/fs/cgroup))" >/dev/console
  # One argument a line (the host's run.mjs writes them).
  set --
  while IFS= read -r a; do set -- "$@" "$a"; done </mnt/job/args
  HUSK_SRC=/mnt/src HUSK_JOB=/mnt/job timeout --kill-after=30 "$(cat /mnt/job/timeout 2>/dev/null || echo 1800)" \
    sh /mnt/job/run.sh "$@" >/mnt/job/output 2>&1 </dev/null
  rc=$?
  echo "$rc" >/mnt/job/rc
  sync
  umount /mnt/job
else
  echo "husk-guest: cannot mount the 9p shares" >/dev/console
fi
echo "HUSK-GUEST-RC=$rc" >/dev/console
systemctl poweroff --no-block
