// The cgroup v2 device program on the real kernel: attached to a scratch cgroup2 directory,
// a shell inside it may use exactly the devices the rules allow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { deviceProgram, encodeProgram } = require('../../out/plan/devices-bpf.js');
const { native } = require('../../out/native/index.js');

function unifiedMount() {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return left.split(' ')[4];
  }
  return null;
}

const root = process.geteuid() === 0;
const unified = unifiedMount();

test(
  'an attached device program allows and denies as the rules say',
  { skip: !root ? 'needs root' : !unified ? 'no cgroup2 mount on this host' : false },
  (t) => {
    const dir = path.join(unified, `husk-test-bpf-${process.pid}`);
    fs.mkdirSync(dir);
    t.after(() => fs.rmdirSync(dir));
    native().attachDeviceProgram(
      dir,
      encodeProgram(
        deviceProgram([
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
        ]),
      ),
    );
    // The shell joins the directory first; what it prints is what the kernel allowed it.
    const script = [
      `echo $$ > ${dir}/cgroup.procs`,
      'head -c1 /dev/null && echo null:ok',
      'head -c1 /dev/zero >/dev/null && echo zero-read:ok',
      '(echo x > /dev/zero) 2>/dev/null && echo zero-write:ok || echo zero-write:denied',
      'head -c1 /dev/urandom >/dev/null 2>&1 && echo urandom:ok || echo urandom:denied',
      `echo $$ > ${unified}/cgroup.procs`,
    ].join('; ');
    const out = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    assert.deepEqual(out.trim().split('\n'), [
      'null:ok',
      'zero-read:ok',
      'zero-write:denied',
      'urandom:denied',
    ]);
  },
);
