// Run by node-gyp at configure time (binding.gyp): the flags that build the static executables
// (husk-init and the front `husk`) against musl instead of glibc, or nothing when musl is not
// installed (then they are static glibc binaries, as before). musl's static start-up is about a
// quarter of a millisecond shorter than glibc's here, paid by every container (husk-init) and
// every call through a husk server (the front).
//   node scripts/musl-flags.mjs cflags|ldflags
// HUSK_LIBC=glibc builds with glibc even where musl is installed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const want = process.argv[2];
function flags() {
  if (process.env.HUSK_LIBC === 'glibc') return [];
  let triplet;
  try {
    triplet = execFileSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).trim(); // x86_64-linux-gnu
  } catch {
    return [];
  }
  const arch = triplet.split('-')[0];
  const specs = `/usr/lib/${arch}-linux-musl/musl-gcc.specs`;
  if (!fs.existsSync(specs)) return [];
  if (want === 'ldflags') return [`-specs=${specs}`];
  // musl's headers stand alone; the kernel's (linux/, asm/, asm-generic/) are reached through a
  // directory of links, so that no glibc header can be picked up in their place.
  const dir = path.resolve('build', 'musl-include');
  fs.mkdirSync(dir, { recursive: true });
  const links = {
    linux: '/usr/include/linux',
    asm: `/usr/include/${triplet}/asm`,
    'asm-generic': '/usr/include/asm-generic',
  };
  for (const [name, target] of Object.entries(links)) {
    if (!fs.existsSync(target)) return [];
    const at = path.join(dir, name);
    fs.rmSync(at, { force: true });
    fs.symlinkSync(target, at);
  }
  return [`-specs=${specs}`, '-isystem', dir];
}
process.stdout.write(flags().join(' '));
