// The map in docs/ARCHITECTURE.md, kept true: the import arrows between the parts of src/ (its
// top-level folders and files) are read from the sources, and the arrows the design forbids must
// not be there, nor any loop between parts.
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
// dependency of the design as much as a value one.
export function arrows() {
  const found = new Map();
  for (const file of sources(SRC)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*)'(\.{1,2}\/[^']*)'/g)) {
      const target = path.resolve(path.dirname(file), m[1]);
      const from = partOf(file);
      const to = partOf(target);
      if (from === to) continue;
      const key = `${from} -> ${to}`;
      if (!found.has(key)) found.set(key, []);
      found.get(key).push(path.relative(repoRoot, file));
    }
  }
  return found;
}

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
