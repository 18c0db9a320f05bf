#!/usr/bin/env node
// Makes a busybox root filesystem from the host's busybox-static, once. Used by the example
// bundle, the tests, the conformance suite and the benchmarks; the rootfs is not committed
// because it is a copy of a host binary.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const defaultDir = path.join(here, '..', 'examples', 'busybox', 'rootfs');

const CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

function findStaticBusybox() {
  for (const p of CANDIDATES) {
    if (!fs.existsSync(p)) continue;
    // A dynamically linked busybox would need the host's libc inside the rootfs.
    const head = fs.readFileSync(p).subarray(0, 4096);
    if (!head.includes(Buffer.from('/lib64/ld-linux')) && !head.includes(Buffer.from('/lib/ld-linux')))
      return p;
  }
  return null;
}

export function ensureRootfs(dir = defaultDir) {
  const marker = path.join(dir, '.husk-rootfs');
  if (fs.existsSync(marker)) return dir;
  const bb = findStaticBusybox();
  if (!bb) {
    throw new Error(
      'no static busybox found (looked at ' +
        CANDIDATES.join(', ') +
        '): install it with `apt-get install busybox-static`',
    );
  }
  const tmp = dir + '.tmp-' + process.pid;
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const d of [
    'bin',
    'sbin',
    'etc',
    'proc',
    'sys',
    'dev',
    'tmp',
    'root',
    'home',
    'usr/bin',
    'usr/sbin',
    'var',
    'run',
  ])
    fs.mkdirSync(path.join(tmp, d), { recursive: true });
  fs.chmodSync(path.join(tmp, 'tmp'), 0o1777);
  fs.copyFileSync(bb, path.join(tmp, 'bin', 'busybox'));
  fs.chmodSync(path.join(tmp, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(bb, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    const dest = path.join(tmp, a);
    if (a === 'bin/busybox' || fs.existsSync(dest)) continue;
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.symlinkSync('/bin/busybox', dest);
  }
  fs.writeFileSync(
    path.join(tmp, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  fs.writeFileSync(path.join(tmp, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(tmp, 'etc', 'hostname'), 'husk\n');
  fs.writeFileSync(path.join(tmp, '.husk-rootfs'), `made from ${bb}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.renameSync(tmp, dir);
  return dir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureRootfs(process.argv[2] ? path.resolve(process.argv[2]) : defaultDir));
  } catch (e) {
    console.error('ensure-rootfs: ' + e.message);
    process.exit(1);
  }
}
