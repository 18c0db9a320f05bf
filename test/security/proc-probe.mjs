// Shared by the tests of mounts redirected onto /proc or /sys (CVE-2019-16884, CVE-2019-19921,
// CVE-2023-27561, CVE-2023-28642): a host directory with a marker file to bind, and a probe the
// container runs that says what /proc and /sys are once every mount is in place.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { IS_HUSK, show } from './lib.mjs';

/** A host dir holding MARKER-<marker>: seen at /proc or /sys only if it was mounted there. */
export function markedDir(e, name = 'src') {
  const d = e.tmp(name);
  fs.chmodSync(d, 0o755);
  fs.writeFileSync(path.join(d, `MARKER-${e.marker}`), 'host\n');
  return d;
}

/**
 * A shell probe: proc=COVERED when the marker shows anywhere under /proc (the host dir replaced
 * procfs or a directory in it), proc=procfs when /proc/self/status is there, else proc=other;
 * the same for /sys (sysfs: /sys/kernel exists). `extra` dirs are probed the same way
 * (seen=<dir> when the marker is there: the control that the bind landed where it was aimed).
 */
export function probe(e, extra = []) {
  const m = `MARKER-${e.marker}`;
  return [
    `if [ -e /proc/${m} ] || [ -e /proc/sys/${m} ] || [ -e /proc/sw/${m} ]; then echo proc=COVERED; elif [ -r /proc/self/status ]; then echo proc=procfs; else echo proc=other; fi`,
    `if [ -e /sys/${m} ] || [ -e /sys/kernel/${m} ]; then echo sys=COVERED; elif [ -d /sys/kernel ]; then echo sys=sysfs; else echo sys=other; fi`,
    ...extra.map((d) => `[ -e ${d}/${m} ] && echo seen=${d}`),
    'true',
  ].join('; ');
}

/**
 * The outcome of a run whose mounts an image symlink redirects into /proc or /sys: 'refused'
 * (create failed cleanly, with runc's words on husk and naming the mount entry) or 'intact'
 * (it ran and /proc and /sys are still procfs and sysfs). Fails the test when the host dir
 * covered either.
 */
export function outcome(e, r, id, entry) {
  assert.doesNotMatch(
    r.stdout,
    /proc=COVERED/,
    `a host dir was mounted over the container's /proc: ${show(r)}`,
  );
  assert.doesNotMatch(
    r.stdout,
    /sys=COVERED/,
    `a host dir was mounted over the container's /sys: ${show(r)}`,
  );
  if (r.code === 0) {
    assert.match(r.stdout, /proc=procfs/, show(r));
    return 'intact';
  }
  assert.ok(!r.signal && !r.timedOut, `runtime died or hung: ${show(r)}`);
  if (IS_HUSK) {
    assert.match(r.stderr, /cannot be mounted/, show(r));
    if (entry) assert.ok(r.stderr.includes(entry), `the error does not name ${entry}: ${show(r)}`);
  }
  e.assertGone(id);
  return 'refused';
}
