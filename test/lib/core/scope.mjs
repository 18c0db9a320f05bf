// What one test owns on the host, and taking it away again: a unique marker (part of every id it
// makes and of its processes' environment, so that only what this test made is counted, never what
// other processes on the host made), its private directories, the container ids it named and the
// cleanups it deferred. The suites' per-test environments are built on a Scope.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { mountsUnder } from './proc.mjs';

let counter = 0;

/** A marker no other test (in this process or another) has: `${prefix}<pid><n><random>`. */
export function uniqueMarker(prefix = 'ht') {
  return `${prefix}${process.pid.toString(36)}${(counter++).toString(36)}${crypto.randomBytes(2).toString('hex')}`;
}

export class Scope {
  /** @param {{ marker?: string, prefix?: string }} [opts] prefix: for tmpdir() names */
  constructor({ marker = uniqueMarker(), prefix = '/tmp/husk-test-' } = {}) {
    this.marker = marker;
    this.prefix = prefix;
    /** @type {Set<string>} container ids the test named */
    this.ids = new Set();
    /** @type {string[]} directories the test made: removed at the end */
    this.dirs = [];
    /** @type {Array<() => unknown>} */
    this.deferred = [];
  }

  /** A container id that carries the marker, remembered for cleanup. */
  id(name = 'c') {
    const id = `${this.marker}-${name}`;
    this.ids.add(id);
    return id;
  }

  /** A fresh directory `${prefix}${name}-XXXX` (or `${prefixOverride}XXXX`), removed at the end. */
  tmpdir(name = 'tmp', prefixOverride = '') {
    const d = fs.mkdtempSync(prefixOverride || `${this.prefix}${name}-`);
    this.dirs.push(d);
    return d;
  }

  /** Adopts a directory made elsewhere: removed at the end. */
  own(/** @type {string} */ dir) {
    this.dirs.push(dir);
    return dir;
  }

  defer(/** @type {() => unknown} */ fn) {
    this.deferred.push(fn);
  }

  /** Runs the deferred cleanups, last first; → the errors they threw, as messages. */
  async runDeferred() {
    const errors = [];
    for (const fn of this.deferred.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        errors.push(`cleanup: ${/** @type {Error} */ (err).message}`);
      }
    }
    return errors;
  }
}

/**
 * Unmounts (lazily, deepest first, up to three rounds) what is mounted at or below `dirs` on the
 * host; → the mount points that were there at the start (what the test left behind).
 */
export function unmountUnder(/** @type {string[]} */ dirs) {
  const first = mountsUnder(dirs).map((m) => m.mountpoint);
  for (let round = 0; round < 3; round++) {
    const points = mountsUnder(dirs);
    if (!points.length) break;
    for (const m of points) spawnSync('umount', ['-l', m.mountpoint], { stdio: 'ignore' });
  }
  return [...new Set(first)];
}

/**
 * Removes `dirs`, never through a mount point (that could delete host files behind a leaked
 * bind); → a message for each one left because something is still mounted below it.
 */
export function removeDirs(/** @type {string[]} */ dirs) {
  const errors = [];
  const still = mountsUnder(dirs);
  for (const d of dirs) {
    if (still.some((m) => m.mountpoint === d || m.mountpoint.startsWith(d + '/'))) {
      errors.push(`not removing ${d}: something is still mounted below it`);
      continue;
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
  return errors;
}

/** The entries of a directory ([] when it does not exist). */
export function entriesOf(/** @type {string} */ dir) {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** The size of a file (0 when it does not exist). */
export function fileSize(/** @type {string} */ f) {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}

/**
 * The last `n` lines of a file ('' when it cannot be read).
 */
export function tail(/** @type {string} */ file, n = 20) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** cp -a of a tree of directories, regular files and symlinks, without spawning cp. */
export function copyTree(/** @type {string} */ src, /** @type {string} */ dest) {
  const st = fs.lstatSync(src);
  if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dest);
  else if (st.isDirectory()) {
    fs.mkdirSync(dest);
    for (const n of fs.readdirSync(src)) copyTree(path.join(src, n), path.join(dest, n));
    fs.chmodSync(dest, st.mode & 0o7777);
  } else if (st.isFile()) {
    fs.copyFileSync(src, dest);
    fs.chmodSync(dest, st.mode & 0o7777);
  } else throw new Error(`copyTree: ${src} is not a file, directory or symlink`);
}
