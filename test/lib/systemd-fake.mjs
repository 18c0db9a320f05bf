// Starts test/lib/fake-systemd.mjs in its own process and reads back what it was asked.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fake-systemd.mjs');

/**
 * startFakeSystemd({ roots, base, joinPids, version, jobResult, noJobRemoved, signalFirst }) →
 * { address, dir, records(), calls(member), stop() }. Its socket and log live in a fresh temp
 * directory that stop() removes.
 */
export async function startFakeSystemd(options = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-fake-systemd-'));
  const opts = { roots: [], ...options, socket: path.join(dir, 'bus'), log: path.join(dir, 'log') };
  fs.writeFileSync(opts.log, '');
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`fake systemd exited (${code}) before it was ready`)));
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
  });
  child.removeAllListeners('exit');
  const records = () =>
    fs
      .readFileSync(opts.log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  return {
    address: `unix:path=${opts.socket}`,
    dir,
    records,
    calls: (member) => records().filter((r) => r.member === member),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The unit properties of a recorded StartTransientUnit as { name: value }. */
export function propertiesOf(call) {
  return Object.fromEntries(call.body[2].map(([k, v]) => [k, v.value]));
}
