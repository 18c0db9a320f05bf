// A `husk server` for a test: started from this checkout's bin/husk.js in a directory of its
// own, stopped with SIGTERM; stop() resolves to the tally it prints on the way out.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** This process's environment without NODE_EXTRA_CA_CERTS (which costs Node ~70 ms a start). */
export const NODE_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS'),
);

/**
 * → { dir, pid, stop(): Promise<{ served, handedBack, refused, log }>, log() }. opts.as: a command
 * that execs the rest (setpriv ..., to run the server as another user); opts.env: its environment;
 * opts.entry: the Node CLI to run (default: this checkout's bin/husk.js).
 * @param {string} [dir]
 * @param {{ as?: string[], env?: NodeJS.ProcessEnv, entry?: string }} [opts]
 */
export async function startHuskServer(dir = fs.mkdtempSync('/tmp/husk-test-server-'), opts = {}) {
  const argv = [
    ...(opts.as ?? []),
    process.execPath,
    opts.entry ?? path.join(REPO, 'bin', 'husk.js'),
    'server',
    '--dir',
    dir,
  ];
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? NODE_ENV,
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const m = /(\d+) calls served, (\d+) handed back, (\d+) callers refused/.exec(err);
    return m ? { served: +m[1], handedBack: +m[2], refused: +m[3], log: err } : { log: err };
  };
  const until = Date.now() + 10_000;
  while (!out.includes('listening') && child.exitCode === null && Date.now() < until)
    await new Promise((r) => setTimeout(r, 20));
  if (!out.includes('listening')) {
    await stop();
    throw new Error(`husk server did not start: ${err}`);
  }
  return { dir, pid: child.pid, stop, log: () => err };
}
