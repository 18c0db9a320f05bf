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

// musl's gcc specs and the kernel headers musl's own do not have, or null: then glibc. One
// answer for both modes, so objects and link never disagree.
function musl() {
  if (process.env.HUSK_LIBC === 'glibc') return null;
  let triplet;
  try {
    triplet = execFileSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).trim(); // x86_64-linux-gnu
  } catch {
    return null;
  }
  const specs = `/usr/lib/${triplet.split('-')[0]}-linux-musl/musl-gcc.specs`;
  const links = {
    linux: '/usr/include/linux',
    asm: `/usr/include/${triplet}/asm`,
    'asm-generic': '/usr/include/asm-generic',
  };
  if (![specs, ...Object.values(links)].every((f) => fs.existsSync(f))) return null;
  return { specs, links };
}

function flags(want) {
  const m = musl();
  if (!m) return [];
  if (want === 'ldflags') return [`-specs=${m.specs}`];
  // musl's headers stand alone; the kernel's (linux/, asm/, asm-generic/) are reached through a
  // directory of links, so that no glibc header can be picked up in their place.
  const dir = path.resolve('build', 'musl-include');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, target] of Object.entries(m.links)) {
    const at = path.join(dir, name);
    fs.rmSync(at, { force: true });
    fs.symlinkSync(target, at);
  }
  return [`-specs=${m.specs}`, '-isystem', dir];
}
process.stdout.write(flags(process.argv[2]).join(' '));
