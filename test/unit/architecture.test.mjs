// The map in docs/ARCHITECTURE.md, kept true: the import arrows between the parts of src/ (its
// top-level folders and files) are read from the sources, and the arrows the design forbids must
// not be there, nor any loop between parts. Rooms inside a part (src/runtime/cgroups) are entered
// through their index only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers.mjs';

const SRC = path.join(repoRoot, 'src');

function sources(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// A part is a top-level folder of src/ (plan, runtime, ...) or a top-level file (lib, errors, log).
const partOf = (file) =>
  path
    .relative(SRC, file)
    .split(path.sep)[0]
    .replace(/\.(ts|js)$/, '');

// Every relative import, re-export and require(), type-only ones too: a type arrow is a
// dependency of the design as much as a value one. Each as [importing file, imported file], the
// target resolved as tsc does (x.ts, else x/index.ts).
function imports() {
  const out = [];
  for (const file of sources(SRC)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:\bfrom\s+|\bimport\s+|\brequire\(\s*|\bimport\(\s*)'(\.{1,2}\/[^']*)'/g,
    )) {
      const base = path.resolve(path.dirname(file), m[1]);
      const target = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f)) ?? base;
      out.push([file, target]);
    }
  }
  return out;
}

export function arrows(part = partOf) {
  const found = new Map();
  for (const [file, target] of imports()) {
    const from = part(file);
    const to = part(target);
    if (from === to) continue;
    const key = `${from} -> ${to}`;
    if (!found.has(key)) found.set(key, []);
    found.get(key).push(path.relative(repoRoot, file));
  }
  return found;
}

// The rooms inside a part: a folder with an index that is its one door.
const ROOMS = ['runtime/cgroups'];
const roomOf = (file) => ROOMS.find((r) => file.startsWith(path.join(SRC, r) + path.sep));
// A part, with its rooms told apart (for the map printed below).
const partOrRoom = (file) => roomOf(file) ?? partOf(file);

const PARTS_ABOVE_SPEC = ['cli', 'lib', 'server', 'runtime', 'state', 'plan', 'host', 'native', 'log'];

// [from, to, why]
const FORBIDDEN = [
  ...['runtime', 'state', 'native', 'cli', 'server', 'lib'].map((to) => [
    'plan',
    to,
    'planning is pure: it reads a spec and host facts and touches nothing',
  ]),
  ...['cli', 'server', 'lib'].map((to) => ['runtime', to, 'the runtime serves every front end alike']),
  ['state', 'native', 'the store reaches the addon only through host/fs-primitives'],
  ...['runtime', 'plan', 'cli', 'server', 'lib'].map((to) => [
    'state',
    to,
    'the store knows records, not lifecycles',
  ]),
  ...PARTS_ABOVE_SPEC.map((to) => ['spec', to, 'the spec is the bottom layer: types and validation']),
  ['server', 'cli', 'the command line hands the server its call runner'],
  ...['runtime', 'state', 'plan', 'cli', 'server', 'lib'].map((to) => [
    'host',
    to,
    'host facts are read, not decided',
  ]),
  ...['runtime', 'state', 'plan', 'cli', 'server', 'lib', 'spec'].map((to) => [
    'native',
    to,
    'the addon binding is a leaf',
  ]),
];

test('no forbidden arrow between the parts of src/', () => {
  const found = arrows();
  const bad = FORBIDDEN.filter(([from, to]) => found.has(`${from} -> ${to}`)).map(
    ([from, to, why]) => `${from} -> ${to} (${why}): ${found.get(`${from} -> ${to}`).join(', ')}`,
  );
  assert.deepEqual(bad, []);
});

test('no loop between the parts of src/', () => {
  const edges = new Map();
  for (const key of arrows().keys()) {
    const [from, to] = key.split(' -> ');
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from).add(to);
  }
  const loops = [];
  const state = new Map(); // 1: on the current path, 2: done
  const visit = (n, trail) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      loops.push([...trail.slice(trail.indexOf(n)), n].join(' -> '));
      return;
    }
    state.set(n, 1);
    for (const m of edges.get(n) ?? []) visit(m, [...trail, n]);
    state.set(n, 2);
  };
  for (const n of edges.keys()) visit(n, []);
  assert.deepEqual(loops, []);
});

test('the reader finds arrows that are there (a control)', () => {
  const found = arrows();
  assert.ok(found.has('runtime -> plan'), 'runtime plans before it launches');
  assert.ok(found.has('cli -> runtime'));
  assert.ok(found.has('state -> host'), 'the store takes its locks through host/fs-primitives');
});

test('a room is entered only through its index', () => {
  const bad = imports()
    .filter(([file, target]) => {
      const room = roomOf(target);
      return room && roomOf(file) !== room && target !== path.join(SRC, room, 'index.ts');
    })
    .map(([file, target]) => `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
  assert.deepEqual(bad, [], 'import the room (its index.ts), not the files inside it');
});

// What the cgroups room may use of the rest of the runtime: a synchronous sleep for the kernel
// polls. Nothing of the lifecycle: the lifecycle calls the room, never the other way round.
const CGROUPS_MAY_USE = ['runtime/sleep.ts'];
test('the cgroups room reaches back into the runtime for nothing but sleep', () => {
  const bad = imports()
    .filter(
      ([file, target]) =>
        roomOf(file) === 'runtime/cgroups' &&
        partOf(target) === 'runtime' &&
        roomOf(target) !== 'runtime/cgroups' &&
        !CGROUPS_MAY_USE.includes(path.relative(SRC, target)),
    )
    .map(([file, target]) => `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
  assert.deepEqual(bad, []);
});

// Files of plan/ and runtime/ that import each other in a loop (e.g. plan/cgroups and
// plan/systemd-unit did): one of the two then sees the other half-loaded at start-up.
test('no import loop between the files of plan/ and runtime/', () => {
  const edges = new Map();
  for (const [file, target] of imports()) {
    if (!['plan', 'runtime'].includes(partOf(file)) || partOf(target) !== partOf(file)) continue;
    if (!edges.has(file)) edges.set(file, new Set());
    edges.get(file).add(target);
  }
  const loops = [];
  const state = new Map();
  const visit = (n, trail) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      loops.push([...trail.slice(trail.indexOf(n)), n].map((f) => path.relative(SRC, f)).join(' -> '));
      return;
    }
    state.set(n, 1);
    for (const m of edges.get(n) ?? []) visit(m, [...trail, n]);
    state.set(n, 2);
  };
  for (const n of edges.keys()) visit(n, []);
  assert.deepEqual(loops, []);
});

test('the room checks see the imports they judge (a control)', () => {
  const seen = imports().map(([f, t]) => `${path.relative(SRC, f)} -> ${path.relative(SRC, t)}`);
  assert.ok(seen.includes('runtime/lifecycle.ts -> runtime/cgroups/index.ts'), 'the lifecycle uses the door');
  assert.ok(
    seen.includes('runtime/cgroups/cgroupfs.ts -> runtime/cgroups/cgroupfs-teardown.ts'),
    'files inside a room import each other directly',
  );
  assert.ok(seen.includes('runtime/cgroups/cgroupfs-teardown.ts -> runtime/sleep.ts'));
  assert.ok(seen.includes('plan/cgroups.ts -> plan/systemd-unit.ts'));
});

// The map as it is, printed with the test run (node --test shows diagnostics): parts, and the
// rooms inside them, with how many imports each arrow stands for.
test('the arrows between the parts and rooms of src/ (printed)', (t) => {
  const found = arrows(partOrRoom);
  assert.ok(found.size > 0);
  for (const key of [...found.keys()].sort()) t.diagnostic(`${key} (${found.get(key).length})`);
});
