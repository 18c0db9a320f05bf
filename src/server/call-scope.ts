// One call the server runs takes the process's cwd, environment, umask and fds 0-2 from its
// caller for as long as it runs: the CLI code, the hooks it starts and `ps` then see what they
// would in a process of the caller's own. Calls take turns: a call holds the scope while it
// works and lets go while it only waits (a foreground container's exit).
import { native } from '../native';
import type { CallRequest } from './protocol';

let tail: Promise<void> = Promise.resolve();

function nextTurn(): Promise<() => void> {
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const before = tail;
  tail = before.then(() => mine);
  return before.then(() => release);
}

export class CallScope {
  private release: (() => void) | null = null;
  private saved: { stdio: number[]; cwd: string; env: NodeJS.ProcessEnv; umask: number } | null = null;

  constructor(
    private readonly req: CallRequest,
    private readonly stdio: number[],
  ) {}

  async enter(): Promise<void> {
    this.release = await nextTurn();
    const saved = { stdio: native().swapStdio(this.stdio), cwd: process.cwd(), env: process.env, umask: 0 };
    this.saved = saved;
    saved.umask = process.umask(this.req.umask);
    process.env = { ...this.req.env };
    try {
      process.chdir(this.req.cwd);
    } catch (e) {
      this.leave();
      throw e;
    }
  }

  leave(): void {
    const saved = this.saved;
    this.saved = null;
    if (saved) {
      native().restoreStdio(saved.stdio);
      process.env = saved.env;
      process.umask(saved.umask);
      try {
        process.chdir(saved.cwd);
      } catch {
        process.chdir('/');
      }
    }
    const release = this.release;
    this.release = null;
    release?.();
  }
}
