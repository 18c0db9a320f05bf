// check(): one spec statement as one node:test test, named "[id] file.md#section: what is checked".
// Each check gets an Env: a private --root for the runtime, a scratch dir under /tmp/husk-conf-*,
// and helpers to make bundles and containers. Whatever happens in the check, the Env then
// force-deletes every container it named, unmounts what it mounted, removes its scratch dir, and
// fails the check if anything was left behind (state in --root, a live process, a cgroup, a
// change to the shared rootfs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Runtime, RUNTIME, RUNTIME_NAME, describe } from './runtime.mjs';
import { ROOTFS, ensureSharedRootfs, readJSON } from './config.mjs';
import { pidAlive, waitFor, cgroupDirsNamed, cgroupDirsWithNames, sleep } from './host.mjs';
import { cgroupProcs, killQuietly, removeCgroupTree, TIMEOUT_SCALE } from '../../test/lib/core.mjs';

export { RUNTIME, RUNTIME_NAME, describe };

const here = path.dirname(fileURLToPath(import.meta.url));
const expectedPath = path.resolve(here, '..', 'expected-failures.json');
const KNOWN = (fs.existsSync(expectedPath) ? readJSON(expectedPath) : {})[RUNTIME_NAME] ?? {};

ensureSharedRootfs();
const rootfsSnapshot = listTree(ROOTFS);

const seen = new Set();

/**
 * Declares a check. id: stable statement id; ref: "file.md#section"; fn(env, t).
 * A check listed for this runtime in expected-failures.json runs as a node:test `todo`.
 * @param {string} id
 * @param {string} ref
 * @param {string} title
 * @param {(env: Env, t: import('node:test').TestContext) => unknown} fn
 * @param {{ timeout?: number }} [opts]
 */
export function check(id, ref, title, fn, opts = {}) {
  if (seen.has(id)) throw new Error(`duplicate statement id ${id}`);
  seen.add(id);
  const known = KNOWN[id];
  const name = `[${id}] ${ref}: ${title}`;
  test(
    name,
    {
      todo: known ? `expected failure on ${RUNTIME_NAME}: ${known}` : undefined,
      timeout: (opts.timeout ?? 60000) * TIMEOUT_SCALE,
    },
    async (t) => {
      if (!fs.existsSync(RUNTIME)) return t.skip(`no runtime at ${RUNTIME}`);
      const env = new Env();
      let failure = null;
      try {
        await fn(env, t);
      } catch (e) {
        failure = e;
      }
      const problems = await env.cleanup();
      if (failure) {
        if (problems.length && failure instanceof Error)
          failure.message += `\n(and cleanup found: ${problems.join('; ')})`;
        throw failure;
      }
      if (problems.length) assert.fail(`left behind: ${problems.join('; ')}`);
    },
  );
}

/**
 * @typedef {import('./runtime.mjs').CallResult} CallResult
 * @typedef {import('./runtime.mjs').CallOpts} CallOpts
 * @typedef {any} Config a config.json (tests build invalid ones on purpose)
 * @typedef {{ copy?: boolean, readonly?: boolean, files?: Record<string, string> }} BundleOpts
 * @typedef {BundleOpts & CallOpts & { bundle?: string, id?: string, tag?: string }} ContainerOpts
 */

export class Env {
  constructor() {
    this.base = fs.mkdtempSync('/tmp/husk-conf-');
    // Containers with a user namespace run as an unprivileged host uid and must reach the bundle.
    fs.chmodSync(this.base, 0o755);
    this.root = path.join(this.base, 'state');
    this.io = path.join(this.base, 'io');
    fs.mkdirSync(this.root, { mode: 0o700 });
    fs.mkdirSync(this.io);
    this.rt = new Runtime(this.root, this.io);
    /** @type {string[]} */
    this.ids = [];
    /** @type {Set<number>} */
    this.pids = new Set();
    /** @type {string[]} */
    this.cgroupPaths = [];
    /** @type {string[]} */
    this.hostMounts = [];
    this.n = 0;
  }

  /** A fresh container id, remembered for cleanup. */
  id(tag = 'c') {
    const id = `hc-${tag}-${crypto.randomBytes(4).toString('hex')}`;
    this.ids.push(id);
    return id;
  }

  /** A scratch path (not created) inside this check's temp dir. */
  path(/** @type {string[]} */ ...parts) {
    return path.join(this.base, ...parts);
  }

  /** Makes a host directory in the scratch dir (mode 0755 unless given). */
  dir(/** @type {string} */ name, mode = 0o755) {
    const d = this.path(name);
    fs.mkdirSync(d, { recursive: true });
    fs.chmodSync(d, mode);
    return d;
  }

  /**
   * Writes a bundle: config.json from `config`. opts.copy: give the bundle its own writable copy
   * of the rootfs at bundle/rootfs (root.path becomes "rootfs" unless the config names another
   * path); opts.files: { "rootfs/relative/path": content } written after the copy.
   * @param {Config} config
   * @param {BundleOpts} [opts]
   */
  bundle(config, opts = {}) {
    const dir = this.dir(`bundle${++this.n}`);
    const cfg = structuredClone(config);
    if (opts.copy) {
      execFileSync('cp', ['-a', ROOTFS, path.join(dir, 'rootfs')]);
      if (cfg.root && cfg.root.path === ROOTFS)
        cfg.root = { ...cfg.root, path: 'rootfs', readonly: opts.readonly ?? false };
    }
    for (const [rel, content] of Object.entries(opts.files ?? {})) {
      const p = path.join(dir, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content, { mode: 0o755 });
    }
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
    return dir;
  }

  /**
   * create; asserts success. Returns { id, bundle, pid, state }.
   * @param {Config} config
   * @param {ContainerOpts} [opts]
   */
  async create(config, opts = {}) {
    const bundle = opts.bundle ?? this.bundle(config, opts);
    const id = opts.id ?? this.id(opts.tag);
    const r = await this.rt.create(id, bundle, opts);
    assert.equal(r.code, 0, `create failed: ${describe(r)}`);
    const s = await this.rt.state(id);
    assert.ok(s.state, `state after create failed: ${describe(s)}`);
    if (s.state.pid) this.pids.add(s.state.pid);
    return { id, bundle, pid: s.state.pid, state: s.state };
  }

  /**
   * create + start; asserts success.
   * @param {Config} config
   * @param {ContainerOpts} [opts]
   */
  async started(config, opts = {}) {
    const c = await this.create(config, opts);
    const r = await this.rt.start(c.id);
    assert.equal(r.code, 0, `start failed: ${describe(r)}`);
    return c;
  }

  /**
   * `run` the config with process.args = sh -c script; returns the run's result (never asserts).
   * @param {Config} config
   * @param {string | null} script null: the config's own args
   * @param {ContainerOpts} [opts]
   */
  async inside(config, script, opts = {}) {
    const cfg = structuredClone(config);
    if (script !== null && script !== undefined) cfg.process.args = ['sh', '-c', script];
    const bundle = opts.bundle ?? this.bundle(cfg, opts);
    const id = this.id(opts.tag ?? 'run');
    return this.rt.run(id, bundle, opts);
  }

  /**
   * Like inside(), but asserts exit 0 and returns stdout.
   * @param {Config} config
   * @param {string | null} script
   * @param {ContainerOpts} [opts]
   */
  async insideOk(config, script, opts = {}) {
    const r = await this.inside(config, script, opts);
    assert.equal(r.code, 0, `container failed: ${describe(r)}`);
    return r.stdout;
  }

  /**
   * Asserts that the config is refused: create fails, or (for a runtime that only finds out
   * later) create succeeds and start fails.
   * @param {Config} config
   * @param {string} what
   * @param {ContainerOpts} [opts]
   */
  async createOrStartFails(config, what, opts = {}) {
    const id = this.id();
    const r = await this.rt.create(id, opts.bundle ?? this.bundle(config, opts));
    if (r.code !== 0) return;
    assertFails(await this.rt.start(id), `${what} (create succeeded, so start)`);
  }

  /** Polls `state` until status is `status`; returns the last state (or null). */
  async waitStatus(/** @type {string} */ id, /** @type {string} */ status, timeout = 5000) {
    /** @type {any} */
    let last = null;
    await waitFor(async () => {
      const s = await this.rt.state(id);
      last = s.state;
      return last && last.status === status;
    }, timeout);
    return last;
  }

  /** Mounts on the host (for checks of propagation); undone at cleanup. */
  hostMount(/** @type {string[]} */ args, /** @type {string} */ target) {
    execFileSync('mount', [...args, target]);
    this.hostMounts.push(target);
  }

  /** Remembers a cgroup path the check asked for, so cleanup can check it is gone. */
  cgroup(/** @type {string} */ p) {
    this.cgroupPaths.push(p);
    return p;
  }

  async cleanup() {
    const problems = [];
    for (const id of this.ids) {
      const s = await this.rt.state(id).catch(() => ({ code: -1, state: null }));
      if (s.state?.pid) this.pids.add(s.state.pid);
      if (s.code === 0) {
        const d = await this.rt.delete(id, { force: true }).catch((e) => ({ code: -1, stderr: String(e) }));
        if (d.code !== 0) problems.push(`delete --force ${id} failed: ${d.stderr?.trim()}`);
      }
      const after = await this.rt.state(id).catch(() => ({ code: -1 }));
      if (after.code === 0) problems.push(`container ${id} still exists after delete --force`);
    }
    /** @type {string[]} */
    let left = [];
    try {
      left = fs.readdirSync(this.root);
    } catch {}
    if (left.length) problems.push(`state left in --root: ${left.join(', ')}`);
    for (const pid of this.pids) {
      if (!(await waitFor(() => !pidAlive(pid), 3000))) {
        problems.push(`container process ${pid} still running after delete`);
        killQuietly(pid);
      }
    }
    for (const target of this.hostMounts.reverse()) {
      try {
        execFileSync('umount', ['-l', target], { stdio: 'ignore' });
      } catch {}
    }
    // Cgroups: the cgroupsPath a check asked for, and any cgroup named after one of its ids
    // (where a runtime puts a container without cgroupsPath). The kernel frees a cgroup a moment
    // after its last task exits.
    const names = new Set(this.ids.filter((id) => !id.includes('/')));
    const leftCgroups = () => [
      ...this.cgroupPaths.flatMap((cg) => cgroupDirsNamed(cg)),
      ...cgroupDirsWithNames(names),
    ];
    if (!(await waitFor(() => leftCgroups().length === 0, 2000))) {
      const dirs = leftCgroups();
      problems.push(`cgroups left: ${dirs.join(', ')}`);
      for (const d of dirs.sort((a, b) => b.length - a.length)) {
        for (const pid of cgroupProcs(d)) problems.push(`process ${pid} left in ${d}`);
        removeCgroupTree(d);
      }
    }
    for (let i = 0; ; i++) {
      try {
        fs.rmSync(this.base, { recursive: true, force: true });
        break;
      } catch (e) {
        if (i >= 5) {
          problems.push(`could not remove ${this.base}: ${/** @type {Error} */ (e).message}`);
          break;
        }
        await sleep(100);
      }
    }
    const now = listTree(ROOTFS);
    if (now !== rootfsSnapshot)
      problems.push(`the shared rootfs ${ROOTFS} changed (a check that writes must use a copy)`);
    return problems;
  }
}

/** Names (with types) of everything under dir, as one string, to spot changes. */
function listTree(/** @type {string} */ dir) {
  /** @type {string[]} */
  const out = [];
  const walk = (/** @type {string} */ d, /** @type {string} */ rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel + '/' + e.name;
      out.push((e.isDirectory() ? 'd ' : e.isSymbolicLink() ? 'l ' : 'f ') + r);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.join('\n');
}

/** Asserts that a runtime call failed (non-zero exit, not a timeout). */
export function assertFails(/** @type {CallResult} */ r, /** @type {string} */ what) {
  assert.ok(!r.timedOut, `${what}: timed out: ${describe(r)}`);
  assert.notEqual(r.code, 0, `${what}: expected an error, but it succeeded: ${describe(r)}`);
}

export function assertOk(/** @type {CallResult} */ r, /** @type {string} */ what) {
  assert.equal(r.code, 0, `${what}: ${describe(r)}`);
}
