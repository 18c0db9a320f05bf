// `create --no-pivot` must give the container the same refusal as pivot_root: a process inside
// that makes a nested user, mount and pid namespace (all it needs is CAP_SYS_ADMIN and
// CAP_SETFCAP in the container, or none where it maps a non-root uid) may mount a fresh procfs
// only where a fully visible procfs is already in its mount namespace (the kernel's
// mount_too_revealing check). With MS_MOVE + chroot the host's /proc stays in the namespace,
// under the container's root, unless the runtime detaches it; then the nested mount gets an
// unmasked /proc. runc 1.1.5 detaches it (msMoveRoot); husk must too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, compileStatic, secEnv, show } from './lib.mjs';

const PROBE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
static int wr(const char *f, const char *s) {
  int fd = open(f, O_WRONLY);
  if (fd < 0 || write(fd, s, strlen(s)) < 0) { printf("setup=failed:%s:%s\n", f, strerror(errno)); return -1; }
  close(fd);
  return 0;
}
int main(int argc, char **argv) {
  char buf[64];
  int uid = geteuid(), gid = getegid();
  if (argc != 2) return 2;
  if (unshare(CLONE_NEWUSER) < 0) { printf("setup=failed:unshare user:%s\n", strerror(errno)); return 0; }
  if (wr("/proc/self/setgroups", "deny")) return 0;
  snprintf(buf, sizeof buf, "0 %d 1", uid);
  if (wr("/proc/self/uid_map", buf)) return 0;
  snprintf(buf, sizeof buf, "0 %d 1", gid);
  if (wr("/proc/self/gid_map", buf)) return 0;
  if (unshare(CLONE_NEWNS | CLONE_NEWPID) < 0) { printf("setup=failed:unshare mnt,pid:%s\n", strerror(errno)); return 0; }
  pid_t p = fork();
  if (p == 0) {
    if (mount("proc", argv[1], "proc", 0, NULL) == 0) printf("proc-mount=ALLOWED\n");
    else printf("proc-mount=refused:%s\n", strerror(errno));
    fflush(stdout);
    _exit(0);
  }
  waitpid(p, NULL, 0);
  return 0;
}
`;

function probeBundle(e, probe) {
  return e.bundle({
    args: ['/out/nsproc', '/tmp'],
    mutate(c, b) {
      fs.copyFileSync(probe, path.join(b.out, 'nsproc'));
      fs.chmodSync(path.join(b.out, 'nsproc'), 0o755);
      // What the attack needs: CAP_SYS_ADMIN, and CAP_SETFCAP to map uid 0 into its namespace.
      const caps = [...new Set([...c.process.capabilities.bounding, 'CAP_SYS_ADMIN', 'CAP_SETFCAP'])];
      for (const k of ['bounding', 'effective', 'permitted']) c.process.capabilities[k] = caps;
    },
  });
}

function buildProbe(e) {
  return compileStatic(PROBE, path.join(e.tmp('bin'), 'nsproc'));
}

describe('--no-pivot: no fresh procfs mount from a nested user namespace', { skip: SKIP }, () => {
  test('control: the probe mounts proc where a fully visible procfs is in its namespace (the host)', (t) => {
    const e = secEnv(t);
    const probe = buildProbe(e);
    if (!probe) return t.skip('needs gcc with static glibc to build the probe');
    const dir = e.tmp('mnt');
    const r = spawnSync(probe, [dir], { encoding: 'utf8', timeout: 10_000 });
    if (/setup=failed:unshare user/.test(r.stdout))
      return t.skip(`this host does not let root make a user namespace: ${r.stdout.trim()}`);
    assert.match(r.stdout, /proc-mount=ALLOWED/, `host control: ${r.stdout}${r.stderr}`);
  });

  for (const noPivot of [false, true]) {
    test(`${noPivot ? 'create --no-pivot' : 'pivot_root'}: mount -t proc from a nested user namespace is refused`, (t) => {
      const e = secEnv(t);
      const probe = buildProbe(e);
      if (!probe) return t.skip('needs gcc with static glibc to build the probe');
      const b = probeBundle(e, probe);
      const r = e.husk(['run', ...(noPivot ? ['--no-pivot'] : []), '--bundle', b.dir, e.id('np')]);
      assert.equal(r.code, 0, show(r));
      // The setup inside must have worked, or a refusal would prove nothing.
      assert.doesNotMatch(r.stdout, /setup=failed/, show(r));
      assert.match(r.stdout, /proc-mount=refused:Operation not permitted/, show(r));
    });
  }
});
