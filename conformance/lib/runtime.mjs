// Runs the runtime under test through its command line only: the verbs the OCI runtime spec names
// (create, start, state, kill, delete) plus `run` and `features`, with the global `--root DIR`
// before the verb. Every call has a timeout; stdout and stderr go to files (not pipes), because a
// container created by `create` inherits them and would hold a pipe open long after the runtime
// itself has exited.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';

export const RUNTIME = process.env.RUNTIME || '/usr/sbin/runc';
export const RUNTIME_NAME = path.basename(RUNTIME);

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
   */
  exec(args, opts = {}) {
    const n = ++seq;
    const outPath = opts.out ?? path.join(this.ioDir, `call-${n}.out`);
    const errPath = opts.err ?? path.join(this.ioDir, `call-${n}.err`);
    const outFd = fs.openSync(outPath, 'a');
    const errFd = fs.openSync(errPath, 'a');
    const argv = ['--root', this.root, ...args];
    let file = RUNTIME;
    let fileArgs = argv;
    if (opts.wrap) {
      file = '/bin/sh';
      fileArgs = ['-c', `${opts.wrap}\nexec "$@"`, 'sh', RUNTIME, ...argv];
    }
    const timeout = opts.timeout ?? 20000;
    return new Promise((resolve, reject) => {
      let child;
      try {
        child = spawn(file, fileArgs, {
          cwd: opts.cwd ?? this.ioDir,
          env: opts.env ?? process.env,
          stdio: ['ignore', outFd, errFd],
          // Its own process group, so that a timeout can end the runtime and whatever it forked.
          detached: true,
        });
      } finally {
        fs.closeSync(outFd);
        fs.closeSync(errFd);
      }
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeout);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({
          code,
          signal,
          timedOut,
          outPath,
          errPath,
          stdout: fs.readFileSync(outPath, 'utf8'),
          stderr: fs.readFileSync(errPath, 'utf8'),
          args,
        });
      });
    });
  }

  /** create --bundle B [--pid-file F] ID; the container's stdio is ioDir/ID.out and ID.err */
  create(id, bundle, opts = {}) {
    const args = ['create', '--bundle', bundle];
    if (opts.pidFile) args.push('--pid-file', opts.pidFile);
    args.push(id);
    return this.exec(args, { ...opts, ...this.stdioOf(id) });
  }

  /** run --bundle B ID: create, start, wait for the process, delete. */
  run(id, bundle, opts = {}) {
    return this.exec(['run', '--bundle', bundle, id], { ...opts, ...this.stdioOf(id) });
  }

  start(id, opts) {
    return this.exec(['start', id], opts);
  }

  kill(id, signal, opts) {
    return this.exec(['kill', id, signal], opts);
  }

  delete(id, opts = {}) {
    return this.exec(['delete', ...(opts.force ? ['--force'] : []), id], opts);
  }

  /** state ID, parsed; resolves with { ...result, state } where state is null unless JSON came back. */
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

  features(opts) {
    return this.exec(['features'], opts);
  }

  stdioOf(id) {
    const safe = String(id).replace(/[^A-Za-z0-9_.-]/g, '_');
    return { out: path.join(this.ioDir, `${safe}.out`), err: path.join(this.ioDir, `${safe}.err`) };
  }

  /** What the container's process has written to its stdout / stderr so far. */
  output(id) {
    const { out, err } = this.stdioOf(id);
    const read = (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');
    return { stdout: read(out), stderr: read(err) };
  }
}

/** Formats a runtime call's result for an assertion message. */
export function describe(r) {
  return `\`${RUNTIME_NAME} ${r.args.join(' ')}\` exited ${r.code ?? 'by ' + r.signal}${r.timedOut ? ' (timed out)' : ''}; stdout: ${JSON.stringify(r.stdout.slice(0, 800))}; stderr: ${JSON.stringify(r.stderr.slice(0, 800))}`;
}
