// Mount destinations and what goes on them, as engines send them, against husk and runc alike
// (RUNTIME=/usr/sbin/runc): a dangling in-rootfs symlink as a bind destination (an image's
// /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, where docker and podman bind
// their resolv.conf), /dev given ro, tmpfs over a directory, and the host's /proc bound in when
// there is no pid namespace.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { SKIP, env, makeBundle, show } from '../lib/harness.mjs';

const RUNTIME = process.env.RUNTIME ? path.resolve(process.env.RUNTIME) : undefined;

function run(t, script, mutate, opts = {}) {
  const e = env(t, { runtime: RUNTIME });
  const b = makeBundle(t, mutate, { copyRootfs: true, ...opts, args: ['sh', '-c', script] });
  const id = e.id(opts.name ?? 'sh');
  const r = e.husk(['run', '--bundle', b.dir, id]);
  return { ...r, id, bundle: b, e };
}

describe(`mount destinations (${RUNTIME ?? 'husk'})`, { skip: SKIP }, () => {
  test('a bind onto a dangling in-rootfs symlink makes its target inside the rootfs and mounts there', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const src = path.join(e.tmpdir('husk-test-resolv-'), 'resolv.conf');
    fs.writeFileSync(src, `nameserver 192.0.2.53 # ${e.marker}\n`);
    const r = run(t, 'cat /etc/resolv.conf; readlink /etc/resolv.conf', (c, b) => {
      fs.mkdirSync(path.join(b.rootfs, 'run'), { recursive: true });
      fs.rmSync(path.join(b.rootfs, 'etc', 'resolv.conf'), { force: true });
      fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', path.join(b.rootfs, 'etc', 'resolv.conf'));
      c.mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: src, options: ['rbind', 'ro'] });
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, `nameserver 192.0.2.53 # ${e.marker}\n../run/systemd/resolve/stub-resolv.conf\n`);
    // Made where the link leads, in the rootfs: an empty file to mount on.
    const made = path.join(r.bundle.rootfs, 'run', 'systemd', 'resolve', 'stub-resolv.conf');
    assert.ok(fs.statSync(made).isFile(), `${made} was not made`);
    assert.equal(fs.readFileSync(made, 'utf8'), '');
  });

  test('a directory bind onto a dangling absolute symlink makes the directory inside the rootfs', (t) => {
    const e = env(t, { runtime: RUNTIME });
    const src = e.tmpdir('husk-test-dangle-');
    fs.writeFileSync(path.join(src, 'here'), 'yes\n');
    // A name unique to the test, so its absence on the host says the runtime made nothing there.
    const target = `/srv/${e.marker}/v1`;
    const r = run(t, 'cat /data/here', (c, b) => {
      fs.symlinkSync(target, path.join(b.rootfs, 'data'));
      c.mounts.push({ destination: '/data', type: 'bind', source: src, options: ['rbind', 'ro'] });
    });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'yes\n');
    assert.ok(fs.statSync(path.join(r.bundle.rootfs, target)).isDirectory());
    assert.ok(!fs.existsSync(path.dirname(target)), `${path.dirname(target)} was made on the host`);
  });
});
