// Signal names and numbers as `kill` accepts them: KILL, SIGKILL, 9.
import { HuskError } from '../errors';

// node:os is loaded on first use: most calls (state, delete, list) never name a signal, and
// loading it costs ~0.4 ms at every start.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const signalNumbers = () => (require('node:os') as typeof import('node:os')).constants.signals;

export function parseSignal(s: string | number | undefined): number {
  if (s === undefined || s === '') return signalNumbers().SIGTERM;
  const str = String(s).trim();
  if (/^\d+$/.test(str)) {
    const n = Number(str);
    // 0 sends nothing and says whether the process is there (kill ID 0, as runc).
    if (n > 64) throw new HuskError(`invalid signal ${str}`);
    return n;
  }
  const name = str.toUpperCase().startsWith('SIG') ? str.toUpperCase() : `SIG${str.toUpperCase()}`;
  const rt = /^SIGRTMIN(\+(\d+))?$/.exec(name) || /^SIGRTMAX(-(\d+))?$/.exec(name);
  if (rt) {
    const n = name.startsWith('SIGRTMIN') ? 34 + Number(rt[2] ?? 0) : 64 - Number(rt[2] ?? 0);
    if (n < 34 || n > 64) throw new HuskError(`signal ${str} is outside SIGRTMIN..SIGRTMAX`);
    return n;
  }
  const signals = signalNumbers() as Record<string, number>;
  const n = Object.hasOwn(signals, name) ? signals[name] : undefined;
  if (n === undefined) throw new HuskError(`unknown signal "${str}"`);
  return n;
}

const FORWARDED: NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGCONT',
];

// While husk waits for a process of the container (run, exec in the foreground), the signals
// it gets are the process's. Returns the function that stops forwarding.
export function forwardSignals(pid: number): () => void {
  const forward = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, signalNumbers()[sig]);
    } catch {
      /* exited meanwhile */
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  return () => {
    for (const s of FORWARDED) process.off(s, forward);
  };
}
