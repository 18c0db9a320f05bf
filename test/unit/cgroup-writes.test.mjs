// Writing a container's cgroup limits (applyWrites): the files go in one native call, in order;
// the first failure stops there and is named by its config field, and a file with an
// alternative name (blkio.weight / blkio.bfq.weight) is looked for first. A fake cgroup
// directory of plain files stands in for cgroupfs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load, throwsHusk } from './helpers.mjs';

const { applyWrites } = load('runtime/cgroups/cgroupfs.js');

function fakeDir(t, files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-cgwrites-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of files) fs.writeFileSync(path.join(dir, f), 'old');
  return dir;
}

const read = (dir, f) => fs.readFileSync(path.join(dir, f), 'utf8');

test('applyWrites: every value into its file, in order, replacing what was there', (t) => {
  const dir = fakeDir(t, ['pids.max', 'memory.limit_in_bytes', 'devices.allow']);
  applyWrites([
    { dir, file: 'pids.max', value: '50', from: '/linux/resources/pids/limit' },
    { dir, file: 'memory.limit_in_bytes', value: '1048576', from: '/linux/resources/memory/limit' },
    { dir, file: 'devices.allow', value: 'c 1:3 rwm', from: '/linux/resources/devices/0' },
  ]);
  assert.equal(read(dir, 'pids.max'), '50');
  assert.equal(read(dir, 'memory.limit_in_bytes'), '1048576');
  assert.equal(read(dir, 'devices.allow'), 'c 1:3 rwm');
});

test('applyWrites: a missing file in the middle names its field; the ones after are not written', (t) => {
  const dir = fakeDir(t, ['pids.max', 'cpu.shares']);
  throwsHusk(
    () =>
      applyWrites([
        { dir, file: 'pids.max', value: '50', from: '/linux/resources/pids/limit' },
        { dir, file: 'memory.limit_in_bytes', value: '1', from: '/linux/resources/memory/limit' },
        { dir, file: 'cpu.shares', value: '512', from: '/linux/resources/cpu/shares' },
      ]),
    /^\/linux\/resources\/memory\/limit: this host has no memory\.limit_in_bytes in /,
  );
  assert.equal(read(dir, 'pids.max'), '50');
  assert.equal(read(dir, 'cpu.shares'), 'old');
});

test('applyWrites: a write that fails names the field, the value and the file', (t) => {
  const dir = fakeDir(t, ['pids.max']);
  // A directory where the file should be: the open for writing fails (EISDIR).
  fs.mkdirSync(path.join(dir, 'cpu.shares'));
  throwsHusk(
    () =>
      applyWrites([
        { dir, file: 'pids.max', value: '50', from: '/linux/resources/pids/limit' },
        { dir, file: 'cpu.shares', value: '512', from: '/linux/resources/cpu/shares' },
      ]),
    /^\/linux\/resources\/cpu\/shares: write "512" to .*cpu\.shares: EISDIR/,
  );
  assert.equal(read(dir, 'pids.max'), '50');
});

test('applyWrites: the alternative file when the first name is missing, then the rest', (t) => {
  const dir = fakeDir(t, ['blkio.bfq.weight', 'pids.max', 'cpu.shares']);
  applyWrites([
    { dir, file: 'cpu.shares', value: '512', from: '/linux/resources/cpu/shares' },
    {
      dir,
      file: 'blkio.weight',
      alt: 'blkio.bfq.weight',
      value: '300',
      from: '/linux/resources/blockIO/weight',
    },
    { dir, file: 'pids.max', value: '50', from: '/linux/resources/pids/limit' },
  ]);
  assert.equal(read(dir, 'cpu.shares'), '512');
  assert.equal(read(dir, 'blkio.bfq.weight'), '300');
  assert.equal(read(dir, 'pids.max'), '50');
  assert.ok(!fs.existsSync(path.join(dir, 'blkio.weight')));
});

// enableSubtree: a fake hierarchy of plain files stands in for cgroupfs, where a write of
// "+cpu" adds cpu (a plain file just keeps the last write, which is enough to see what was
// written and where).
test('enableSubtree: writes only the controllers a level lacks, top first; never removes any', (t) => {
  const { enableSubtree } = load('runtime/cgroups/cgroupfs.js');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-cgenable-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'husk'));
  fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), 'memory pids');
  fs.writeFileSync(path.join(root, 'husk', 'cgroup.subtree_control'), 'cpu memory pids');
  const controllers = ['cpu', 'memory'];
  enableSubtree({
    enable: [
      { dir: root, controllers },
      { dir: path.join(root, 'husk'), controllers },
      { dir: path.join(root, 'husk', 'missing'), controllers },
    ],
  });
  assert.equal(read(root, 'cgroup.subtree_control'), '+cpu', 'the root gets cpu, and no "-" write');
  assert.equal(
    read(path.join(root, 'husk'), 'cgroup.subtree_control'),
    'cpu memory pids',
    'had both: untouched',
  );
  assert.ok(!fs.existsSync(path.join(root, 'husk', 'missing')), 'a level not there yet is not made');
});
