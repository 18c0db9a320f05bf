// Shared bits for the unit tests: the compiled modules from out/ (run `npm run build:ts` first),
// hand-made host descriptions for each cgroup layout, the engine-written fixture configs, and
// small matchers. Nothing here needs root or touches kernel state.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const require = createRequire(import.meta.url);
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const outDir = path.join(repoRoot, 'out');

if (!fs.existsSync(path.join(outDir, 'plan', 'index.js')))
  throw new Error(`${outDir} is missing or incomplete: run \`npm run build:ts\` before the unit tests`);

export const load = (rel) => require(path.join(outDir, rel));

export const fixturesDir = path.join(repoRoot, '..', 'shared', 'fixtures', 'configs');
export const skipFixtures = fs.existsSync(fixturesDir) ? false : `${fixturesDir} is missing`;

// Every engine-written config, with root.path made absolute (bundle-relative paths stay as they
// are when already absolute) so the plan does not depend on the bundle directory.
export function fixtures() {
  if (skipFixtures) return [];
  return fs
    .readdirSync(fixturesDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((name) => {
      const spec = JSON.parse(fs.readFileSync(path.join(fixturesDir, name), 'utf8'));
      if (!spec.root.path.startsWith('/')) spec.root.path = `/bundles/${name.replace(/\.json$/, '')}/rootfs`;
      return { name, spec };
    });
}

const V1_HIERARCHIES = [
  { mountpoint: '/sys/fs/cgroup/systemd', controllers: ['name=systemd'] },
  { mountpoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
  { mountpoint: '/sys/fs/cgroup/cpuset', controllers: ['cpuset'] },
  { mountpoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
  { mountpoint: '/sys/fs/cgroup/devices', controllers: ['devices'] },
  { mountpoint: '/sys/fs/cgroup/freezer', controllers: ['freezer'] },
  { mountpoint: '/sys/fs/cgroup/pids', controllers: ['pids'] },
];

export function hostV2(extra = {}) {
  return { cgroupMode: 'v2', v1: [], unified: '/sys/fs/cgroup', lastCap: 40, kcore: true, euid: 0, ...extra };
}
export function hostV1(extra = {}) {
  return {
    cgroupMode: 'v1',
    v1: V1_HIERARCHIES.map((h) => ({ ...h, controllers: [...h.controllers] })),
    unified: null,
    lastCap: 40,
    kcore: true,
    euid: 0,
    ...extra,
  };
}
export function hostHybrid(extra = {}) {
  return { ...hostV1(), cgroupMode: 'hybrid', unified: '/sys/fs/cgroup/unified', ...extra };
}
export function hostNone(extra = {}) {
  return { cgroupMode: 'none', v1: [], unified: null, lastCap: 40, kcore: true, euid: 0, ...extra };
}
export const HOSTS = { v1: hostV1, v2: hostV2, hybrid: hostHybrid };

// Asserts fn throws a HuskError whose message matches every pattern given.
export function throwsHusk(fn, ...patterns) {
  let caught;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught, `expected a HuskError matching ${patterns.join(', ')}, nothing was thrown`);
  assert.equal(caught.name, 'HuskError', `expected a HuskError, got ${caught.name}: ${caught.message}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

export const names = (ops) => ops.map((o) => o.op);
export const clone = (x) => structuredClone(x);

// JSON.stringify that prints bigints (capability masks, dev_t) as hex.
export const show = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x));
