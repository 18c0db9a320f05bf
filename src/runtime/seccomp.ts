// Compiles the planned seccomp filter with libseccomp (in the addon) and puts the program in
// the plan. Compiling docker's default profile takes ~10 ms here, so programs are cached under
// a cache directory by a hash of everything that decides the output (the normalised rules,
// libseccomp's version, the kernel and the architecture). Syscall names libseccomp does not
// know are skipped with a log line, as runc does.
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { HuskError } from '../errors';
import type { Logger } from '../log';
import { native } from '../native';
import type { Op } from '../plan/ops';
import { setSeccompProgram } from '../plan';
import type { SeccompRequest } from '../plan/seccomp';
import type { Seccomp } from '../spec/types';
import { SPEC_VERSION } from '../spec/load';

interface Cached {
  unknown: string[];
  bpf: string; // base64
}

function cacheKey(req: SeccompRequest): string {
  // Loaded here: only a config with seccomp pays for node:crypto.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const h = createHash('sha256');
  h.update(JSON.stringify(req, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  h.update(`\0${native().seccompVersion()}\0${os.release()}\0${process.arch}`);
  return h.digest('hex');
}

// Outside --root, which holds containers only: /var/cache for root, the user's cache dir else.
function cacheDir(): string | null {
  if ((process.geteuid?.() ?? 0) === 0) return '/var/cache/husk/seccomp';
  const base =
    process.env.XDG_CACHE_HOME || (process.env.HOME ? path.join(process.env.HOME, '.cache') : null);
  return base ? path.join(base, 'husk', 'seccomp') : null;
}

export function compileInto(ops: Op[], req: SeccompRequest | null, log: Logger): void {
  if (!req) return;
  const dir = cacheDir();
  const file = dir ? path.join(dir, cacheKey(req)) : null;
  let out: { bpf: Buffer; unknown: string[] } | null = null;
  if (file) {
    try {
      const c = JSON.parse(fs.readFileSync(file, 'utf8')) as Cached;
      out = { bpf: Buffer.from(c.bpf, 'base64'), unknown: c.unknown };
    } catch {
      out = null;
    }
  }
  if (!out) {
    try {
      out = native().compileSeccomp(req);
    } catch (e) {
      throw new HuskError(`/linux/seccomp: ${(e as Error).message}`);
    }
    if (file) {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ unknown: out.unknown, bpf: out.bpf.toString('base64') }), {
          mode: 0o600,
        });
        fs.renameSync(tmp, file);
      } catch {
        // A cache we cannot write only costs time.
      }
    }
  }
  if (out.unknown.length)
    log.warn(`seccomp: syscalls unknown to libseccomp are skipped: ${[...new Set(out.unknown)].join(', ')}`);
  setSeccompProgram(ops, out.bpf);
}

// A process's filter was loaded with a listener: the seccomp agent gets the listener with the
// container process state (runtime.md), over one connection of its own. A failure is the
// container's failure: its notified calls would otherwise block with nobody to answer them.
export function passListener(fd: number, sc: Seccomp | undefined, pid: number, state: object): void {
  try {
    const msg = {
      ociVersion: SPEC_VERSION,
      fds: ['seccompFd'],
      pid,
      ...(sc?.listenerMetadata ? { metadata: sc.listenerMetadata } : {}),
      state,
    };
    native().sendSeccompState(sc?.listenerPath ?? '', Buffer.from(JSON.stringify(msg)), fd);
  } catch (e) {
    throw new HuskError(`/linux/seccomp/listenerPath: ${(e as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}
