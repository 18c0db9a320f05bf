// Running a command (a runtime, an engine, a helper) from a test: with a timeout, its output in
// unlinked files rather than pipes by default (a container that outlives the call inherits them,
// and a pipe would keep the caller waiting for it), and polling for what it does afterwards.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { drain, scratchFd } from '../scratch-io.mjs';

/**
 * @typedef {{ code: number|null, signal: NodeJS.Signals|null, stdout: string, stderr: string,
 *   timedOut?: boolean }} Result
 * What a command did. `code` is null when it died of `signal`.
 */

/**
 * @typedef {object} RunOpts
 * @property {string} [input] written to its stdin (else stdin is /dev/null)
 * @property {number} [timeout] ms before SIGKILL (default 30 s)
 * @property {string} [cwd]
 * @property {NodeJS.ProcessEnv} [env] the whole environment (default: this process's)
 * @property {import('node:child_process').StdioOptions} [stdio] in place of the output files
 * @property {string} [ioPrefix] where the output files are made (default /tmp/husk-test-io-)
 */

export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const sleepSync = (/** @type {number} */ ms) =>
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Runs `cmd args` and waits: → { code, signal, stdout, stderr, timedOut }. ETXTBSY (the binary is
 * being rewritten by a concurrent build) is tried again shortly.
 * @param {string} cmd
 * @param {string[]} args
 * @param {RunOpts} [opts]
 * @returns {Result}
 */
export function runSync(cmd, args, opts = {}) {
  const files = opts.stdio ? null : [scratchFd(opts.ioPrefix), scratchFd(opts.ioPrefix)];
  /** @type {import('node:child_process').SpawnSyncReturns<string> | undefined} */
  let r;
  let stdout = '';
  let stderr = '';
  try {
    for (let i = 0; i < 20; i++) {
      r = spawnSync(cmd, args, {
        input: opts.input,
        timeout: opts.timeout ?? 30_000,
        encoding: 'utf8',
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: opts.stdio ?? [opts.input === undefined ? 'ignore' : 'pipe', files?.[0], files?.[1]],
        killSignal: 'SIGKILL',
      });
      if (errCode(r.error) !== 'ETXTBSY') break;
      sleepSync(100);
    }
  } finally {
    if (files) {
      stdout = drain(files[0]);
      stderr = drain(files[1]);
    }
  }
  const res = /** @type {import('node:child_process').SpawnSyncReturns<string>} */ (r);
  if (res.error && errCode(res.error) !== 'ETIMEDOUT') throw res.error;
  return {
    code: res.status,
    signal: res.signal,
    stdout: files ? stdout : (res.stdout ?? ''),
    stderr: files ? stderr : (res.stderr ?? ''),
    timedOut: errCode(res.error) === 'ETIMEDOUT',
  };
}

/** @param {unknown} err */
function errCode(err) {
  return /** @type {NodeJS.ErrnoException | undefined} */ (err)?.code;
}

/**
 * @typedef {RunOpts & { pipes?: boolean, outPath?: string, errPath?: string, detached?: boolean }} AsyncOpts
 * pipes: read stdout/stderr from pipes and settle on 'close' (every holder gone) instead of files
 * and 'exit'; outPath/errPath: append to these files (kept) instead of unlinked ones; detached:
 * its own process group, so that a timeout kills whatever it forked too.
 */

/**
 * Runs `cmd args` without blocking the event loop: → Promise<{ code, signal, stdout, stderr,
 * timedOut, ms }>. Rejects when it cannot be started (ETXTBSY is tried again).
 * @param {string} cmd
 * @param {string[]} args
 * @param {AsyncOpts} [opts]
 * @returns {Promise<Result & { timedOut: boolean, ms: number }>}
 */
export async function runAsync(cmd, args, opts = {}) {
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    try {
      const r = await (opts.pipes ? spawnPiped(cmd, args, opts) : spawnToFiles(cmd, args, opts));
      return { ...r, ms: Date.now() - t0 };
    } catch (err) {
      if (errCode(err) === 'ETXTBSY' && i < 20) {
        await sleep(100);
        continue;
      }
      throw err;
    }
  }
}

/**
 * @param {import('node:child_process').ChildProcess} child
 * @param {AsyncOpts} opts
 */
function killOnTimeout(child, opts, onKill = () => {}) {
  return setTimeout(() => {
    onKill();
    try {
      if (opts.detached && child.pid) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, opts.timeout ?? 30_000);
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {AsyncOpts} opts
 * @returns {Promise<Result & { timedOut: boolean }>}
 */
function spawnToFiles(cmd, args, opts) {
  const out = opts.outPath ? fs.openSync(opts.outPath, 'a') : scratchFd(opts.ioPrefix);
  const err = opts.errPath ? fs.openSync(opts.errPath, 'a') : scratchFd(opts.ioPrefix);
  const collect = () => ({
    stdout: opts.outPath ? (fs.closeSync(out), fs.readFileSync(opts.outPath, 'utf8')) : drain(out),
    stderr: opts.errPath ? (fs.closeSync(err), fs.readFileSync(opts.errPath, 'utf8')) : drain(err),
  });
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', out, err],
      detached: opts.detached,
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    let timedOut = false;
    const timer = killOnTimeout(child, opts, () => (timedOut = true));
    child.on('error', (e) => {
      clearTimeout(timer);
      collect();
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, ...collect() });
    });
  });
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {AsyncOpts} opts
 * @returns {Promise<Result & { timedOut: boolean }>}
 */
function spawnPiped(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: opts.detached,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = killOnTimeout(child, opts, () => (timedOut = true));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/**
 * @typedef {{ child: import('node:child_process').ChildProcess, done: Promise<Result>,
 *   output: () => { stdout: string, stderr: string } }} Started
 */

/**
 * Starts a command without waiting: { child, done, output() }. `done` resolves to { code, signal,
 * stdout, stderr } once it has exited and its pipes are drained (or 500 ms later: a process that
 * outlives it, such as a leaked container, may hold them); output() is what was read so far.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, stdio?: import('node:child_process').StdioOptions }} [opts]
 * @returns {Started}
 */
export function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
  /** @type {Promise<Result>} */
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const settle = () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve({ code, signal, stdout, stderr });
      };
      const timer = setTimeout(settle, 500);
      child.on('close', () => {
        clearTimeout(timer);
        settle();
      });
    });
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** A result in a few lines, for assertion messages. */
export function show(/** @type {Result} */ r) {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/**
 * Polls fn() until it returns a truthy value or `timeout` ms pass; resolves to the last value
 * (falsy when it timed out). With catchErrors, a throw counts as not yet (the last error is
 * returned as `error`).
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {{ timeout?: number, every?: number, catchErrors?: boolean }} [opts]
 * @returns {Promise<{ value: T | undefined, error?: unknown }>}
 */
export async function poll(fn, { timeout = 10_000, every = 20, catchErrors = false } = {}) {
  const end = Date.now() + timeout;
  /** @type {T | undefined} */
  let value;
  /** @type {unknown} */
  let error;
  for (;;) {
    try {
      value = await fn();
      error = undefined;
      if (value) return { value };
    } catch (e) {
      if (!catchErrors) throw e;
      error = e;
    }
    if (Date.now() > end) return { value, error };
    await sleep(every);
  }
}

// HUSK_TEST_TIMEOUT_SCALE=N stretches the suites' waits and command limits N times: under TCG
// (the guest, test/guest/run-suite.sh) every start of a Node CLI costs ~4 s. Elapsed-time bounds
// a check asserts are not stretched.
export const TIMEOUT_SCALE = Number(process.env.HUSK_TEST_TIMEOUT_SCALE) || 1;

/**
 * Polls fn() until it returns a truthy value and resolves to it; throws after timeoutMs, naming
 * `what` (a string, or a function called then for a description of the state).
 * @template T
 * @param {() => T | Promise<T>} fn
 * @param {string | (() => string)} what
 * @returns {Promise<NonNullable<T>>}
 */
export async function waitFor(fn, what, timeoutMs = 10_000, everyMs = 20) {
  const { value } = await poll(fn, { timeout: timeoutMs, every: everyMs });
  if (!value)
    throw new Error(
      `timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`,
    );
  return /** @type {NonNullable<T>} */ (value);
}

/** @type {Map<string, any>} */
const specs = new Map();

/**
 * What `runtime spec` writes (parsed, a fresh copy each call; made once per runtime and process):
 * the base of the suites' bundles.
 * @param {string} runtime
 * @returns {any}
 */
export function runtimeSpec(runtime) {
  if (!specs.has(runtime)) {
    const d = fs.mkdtempSync('/tmp/husk-test-spec-');
    try {
      const r = runSync(runtime, ['spec', '--bundle', d]);
      if (r.code !== 0) throw new Error(`${runtime} spec: ${show(r)}`);
      specs.set(runtime, JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')));
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  }
  return structuredClone(specs.get(runtime));
}
