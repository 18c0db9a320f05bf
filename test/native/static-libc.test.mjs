// The static executables (husk-init, which every container execs, and the front `husk`) are
// built against musl where musl's gcc specs are installed (scripts/musl-flags.mjs): a silent
// fall-back to glibc would cost every container a quarter of a millisecond of start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const release = new URL('../../build/Release/', import.meta.url).pathname;
// What the build chose (the same script binding.gyp asks; ldflags makes no links).
const script = new URL('../../scripts/musl-flags.mjs', import.meta.url).pathname;
const musl = execFileSync(process.execPath, [script, 'ldflags'], { encoding: 'utf8' }) !== '';

for (const name of ['husk-init', 'husk']) {
  test(`${name} is a static ${musl ? 'musl' : 'glibc'} executable`, () => {
    const bin = fs.readFileSync(path.join(release, name));
    assert.equal(bin.subarray(0, 4).toString('latin1'), '\x7fELF');
    // No PT_INTERP: static. Program headers: e_phoff at 32 (u64), e_phentsize at 54, e_phnum at 56.
    const phoff = Number(bin.readBigUInt64LE(32));
    const types = Array.from({ length: bin.readUInt16LE(56) }, (_, i) =>
      bin.readUInt32LE(phoff + i * bin.readUInt16LE(54)),
    );
    assert.ok(!types.includes(3), `${name} has an interpreter (dynamically linked)`);
    // glibc leaves its name in a static binary (its version banner and error texts); musl does not.
    const glibc = bin.includes('GNU C Library') || bin.includes('glibc');
    assert.equal(
      glibc,
      !musl,
      musl ? `${name} was linked with glibc although musl is installed` : `${name}: no glibc`,
    );
  });
}
