// startContainer hooks run in the container, after `start`, and runc 1.1.5 runs them under the
// container's seccomp filter, with and without no_new_privs (its filter is loaded before the
// init reports ready). A hook is code the container's image may supply: it must not get the
// syscalls the profile denies the container. Profile here: everything allowed but mkdir and
// mkdirat (EPERM); the hook is the container's busybox mkdir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, secEnv, show } from './lib.mjs';

const DENY_MKDIR = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
};

function hookBundle(e, { nnp, seccomp }) {
  return e.bundle({
    args: ['sh', '-c', 'echo ran > /out/main'],
    mutate(c) {
      c.process.noNewPrivileges = nnp;
      if (seccomp) c.linux.seccomp = seccomp;
      c.hooks = { startContainer: [{ path: '/bin/mkdir', args: ['mkdir', '/out/hook-dir'] }] };
    },
  });
}

describe('seccomp applies to startContainer hooks', { skip: SKIP }, () => {
  for (const nnp of [true, false]) {
    test(`control (noNewPrivileges ${nnp}): without the profile the hook makes its directory`, (t) => {
      const e = secEnv(t);
      const b = hookBundle(e, { nnp, seccomp: null });
      const r = e.husk(['run', '--bundle', b.dir, e.id('ok')]);
      assert.equal(r.code, 0, show(r));
      assert.ok(fs.existsSync(path.join(b.out, 'hook-dir')), 'the hook did not run');
      assert.equal(b.read('main'), 'ran\n');
    });

    test(`noNewPrivileges ${nnp}: a hook's denied mkdir fails it, and the container with it`, (t) => {
      const e = secEnv(t);
      const b = hookBundle(e, { nnp, seccomp: DENY_MKDIR });
      const id = e.id('deny');
      const r = e.husk(['run', '--bundle', b.dir, id]);
      assert.notEqual(r.code, 0, `the hook ran outside the filter: ${show(r)}`);
      assert.ok(!fs.existsSync(path.join(b.out, 'hook-dir')), `the hook's mkdir got through: ${show(r)}`);
      assert.match(r.stderr, /Operation not permitted/, show(r));
      assert.equal(b.read('main'), null, 'the program ran after its hook failed');
      t.diagnostic(r.stderr.trim());
    });
  }
});
