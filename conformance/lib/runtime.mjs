// Runs the runtime under test through its command line only: the verbs the OCI runtime spec names
// (create, start, state, kill, delete) plus `run` and `features`, with the global `--root DIR`
// before the verb. Every call has a timeout; stdout and stderr go to files (not pipes), because a
// container created by `create` inherits them and would hold a pipe open long after the runtime
// itself has exited.
import fs from 'node:fs';
import path from 'node:path';
import { runAsync, TIMEOUT_SCALE } from '../../test/lib/core.mjs';

export const RUNTIME = process.env.RUNTIME || '/usr/sbin/runc';
export const RUNTIME_NAME = path.basename(RUNTIME);

/**
 * @typedef {import('../../test/lib/core/run.mjs').Result & { timedOut: boolean, outPath: string,
 *   errPath: string, args: string[] }} CallResult
 * @typedef {{ timeout?: number, cwd?: string, env?: NodeJS.ProcessEnv, out?: string, err?: string,
 *   wrap?: string, pidFile?: string }} CallOpts
 */

let seq = 0;

export class Runtime {
  /** @param {string} root private state dir, @param {string} ioDir where output files go */
  constructor(root, ioDir) {
    this.root = root;
    this.ioDir = ioDir;
  }

  /**
   * Runs `RUNTIME --root ROOT ...args`. Resolves with { code, signal, stdout, stderr, timedOut,
   * outPath, errPath }. opts: timeout (ms), cwd, env, out/err (file paths to append to), wrap
   * (a shell snippet run before exec'ing the runtime, e.g. to set the caller's oom_score_adj).
   * The runtime gets its own process group, so that a timeout ends whatever it forked too.
   * @param {string[]} args
   * @param {CallOpts} [opts]
   * @returns {Promise<CallResult>}
   */
  async exec(args, opts = {}) {
    const n = ++seq;
    const outPath = opts.out ?? path.join(this.ioDir, `call-${n}.out`);
    const errPath = opts.err ?? path.join(this.ioDir, `call-${n}.err`);
    const argv = ['--root', this.root, ...args];
    const [file, fileArgs] = opts.wrap
      ? ['/bin/sh', ['-c', `${opts.wrap}\nexec "$@"`, 'sh', RUNTIME, ...argv]]
      : [RUNTIME, argv];
    const r = await runAsync(file, fileArgs, {
      cwd: opts.cwd ?? this.ioDir,
      env: opts.env ?? process.env,
      timeout: (opts.timeout ?? 20000) * TIMEOUT_SCALE,
      outPath,
      errPath,
      detached: true,
    });
    return { ...r, outPath, errPath, args };
  }

  /**
   * create --bundle B [--pid-file F] ID; the container's stdio is ioDir/ID.out and ID.err
   * @param {string} id @param {string} bundle @param {CallOpts} [opts]
   */
  create(id, bundle, opts = {}) {
    const args = ['create', '--bundle', bundle];
    if (opts.pidFile) args.push('--pid-file', opts.pidFile);
    args.push(id);
    return this.exec(args, { ...opts, ...this.stdioOf(id) });
  }

  /**
   * run --bundle B ID: create, start, wait for the process, delete.
   * @param {string} id @param {string} bundle @param {CallOpts} [opts]
   */
  run(id, bundle, opts = {}) {
    return this.exec(['run', '--bundle', bundle, id], { ...opts, ...this.stdioOf(id) });
  }

  /** @param {string} id @param {CallOpts} [opts] */
  start(id, opts) {
    return this.exec(['start', id], opts);
  }

  /** @param {string} id @param {string} signal @param {CallOpts} [opts] */
  kill(id, signal, opts) {
    return this.exec(['kill', id, signal], opts);
  }

  /** @param {string} id @param {CallOpts & { force?: boolean }} [opts] */
  delete(id, opts = {}) {
    return this.exec(['delete', ...(opts.force ? ['--force'] : []), id], opts);
  }

  /** state ID, parsed; resolves with { ...result, state } where state is null unless JSON came back. */
  /** @param {string} id @param {CallOpts} [opts] */
  async state(id, opts) {
    const r = await this.exec(['state', id], opts);
    let state = null;
    if (r.code === 0) {
      try {
        state = JSON.parse(r.stdout);
      } catch {
        state = null;
      }
    }
    return { ...r, state };
  }

  /** @param {CallOpts} [opts] */
  features(opts) {
    return this.exec(['features'], opts);
  }

  /** @param {string} id */
  stdioOf(id) {
    const safe = String(id).replace(/[^A-Za-z0-9_.-]/g, '_');
    return { out: path.join(this.ioDir, `${safe}.out`), err: path.join(this.ioDir, `${safe}.err`) };
  }

  /** What the container's process has written to its stdout / stderr so far. */
  /** @param {string} id */
  output(id) {
    const { out, err } = this.stdioOf(id);
    const read = (/** @type {string} */ p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');
    return { stdout: read(out), stderr: read(err) };
  }
}

/** Formats a runtime call's result for an assertion message. */
export function describe(/** @type {CallResult} */ r) {
  return `\`${RUNTIME_NAME} ${r.args.join(' ')}\` exited ${r.code ?? 'by ' + r.signal}${r.timedOut ? ' (timed out)' : ''}; stdout: ${JSON.stringify(r.stdout.slice(0, 800))}; stderr: ${JSON.stringify(r.stderr.slice(0, 800))}`;
}
