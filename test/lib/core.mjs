// The helpers every test suite shares (test/lib/harness.mjs, test/security, test/stress,
// test/engines, test/rootless, test/cri and conformance/lib build on these): where things are,
// which runtime is under test, running commands, polling, reading /proc and the cgroup
// hierarchies, and what one test owns and how it is taken away again.
//
// Node built-ins only and no side effects on import: conformance/ imports it and must run against
// any runtime without husk's build (RUNTIME=/usr/sbin/runc npm run conformance).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export * from './core/proc.mjs';
export * from './core/cgroup.mjs';
export * from './core/run.mjs';
export * from './core/scope.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HUSK = path.join(REPO, 'bin', 'husk');
/** The pristine busybox rootfs (scripts/ensure-rootfs.mjs makes it). */
export const ROOTFS = path.join(REPO, 'examples', 'busybox', 'rootfs');
export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * The runtime a suite runs: RUNTIME=/path/to/runc (any runtime) or husk's bin/husk by default.
 * isHusk: whether it is husk (tests of husk's own behaviour skip otherwise).
 */
export function runtimeUnderTest(env = process.env) {
  const runtime = env.RUNTIME ? path.resolve(env.RUNTIME) : HUSK;
  return { runtime, isHusk: !env.RUNTIME || /husk/.test(path.basename(runtime)) };
}

/** Why husk's build cannot run here (a message naming the command that builds it), or false. */
export function huskNotBuilt({ native = false } = {}) {
  if (!fs.existsSync(path.join(REPO, 'dist', 'husk.js')))
    return `husk is not built: run \`npm run build:ts && npm run build:bundle\` in ${REPO}`;
  if (
    native &&
    (!fs.existsSync(path.join(REPO, 'build', 'Release', 'husk_native.node')) ||
      !fs.existsSync(path.join(REPO, 'build', 'Release', 'husk-init')))
  )
    return `husk's addon or husk-init is not built: run \`npm run build:native\` in ${REPO}`;
  return false;
}

/** Makes sure the busybox rootfs `dir` is there; → false, or why it cannot be. */
export async function busyboxMissing(dir = ROOTFS) {
  try {
    const { ensureRootfs } = await import(path.join(REPO, 'scripts', 'ensure-rootfs.mjs'));
    ensureRootfs(dir);
    return false;
  } catch (err) {
    return `no busybox rootfs: ${/** @type {Error} */ (err).message}`;
  }
}
