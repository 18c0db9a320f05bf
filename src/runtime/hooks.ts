// The hooks the runtime runs in its own namespaces: prestart and createRuntime during create,
// poststart after start, poststop after delete. Each gets the container's state on stdin.
import fs = require('node:fs');
import { HuskError } from '../errors';
import type { Logger } from '../log';
import type { Hook, Hooks, State } from '../spec/types';

export type RuntimeHookKind = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';

function envObject(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env ?? []) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

function bundleDir(bundle: string): string | undefined {
  try {
    return fs.statSync(bundle).isDirectory() ? bundle : undefined;
  } catch {
    return undefined;
  }
}

function runHook(h: Hook, where: string, state: State): string | null {
  const args = h.args ?? [h.path];
  // Loaded here, not at the top: most calls run no hook and should not pay for child_process.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(h.path, args.slice(1), {
    argv0: args[0] ?? h.path,
    // The bundle, as runc's (it works in the bundle directory); a bundle removed before
    // poststop leaves the hook in ours.
    cwd: bundleDir(state.bundle),
    env: envObject(h.env),
    input: JSON.stringify(state),
    timeout: h.timeout ? h.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
    stdio: ['pipe', 'inherit', 'pipe'],
  });
  // A hook need not read its stdin: the state it did not take is no failure.
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null)
    r.error = undefined;
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT')
      return `${where}: hook ${h.path} did not finish within its timeout of ${h.timeout}s`;
    return `${where}: hook ${h.path}: ${r.error.message}`;
  }
  if (r.status !== 0) {
    const err = r.stderr?.toString().trim();
    const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.status}`;
    return `${where}: hook ${h.path} ${how}${err ? `: ${err.split('\n').pop()}` : ''}`;
  }
  return null;
}

// Create-time hooks: the first failure is an error (the caller tears the container down).
export function runHooksOrFail(
  hooks: Hooks | undefined,
  kind: RuntimeHookKind,
  state: State,
  log?: Logger,
): void {
  (hooks?.[kind] ?? []).forEach((h, i) => {
    log?.debug(`${state.id}: running hook /hooks/${kind}/${i}: ${h.path}`);
    const err = runHook(h, `/hooks/${kind}/${i}`, state);
    if (err) throw new HuskError(err);
  });
}

// poststart and poststop: a failure is logged and the rest still run, as the spec asks.
export function runHooksWarn(
  hooks: Hooks | undefined,
  kind: RuntimeHookKind,
  state: State,
  log: Logger,
): void {
  (hooks?.[kind] ?? []).forEach((h, i) => {
    log.debug(`${state.id}: running hook /hooks/${kind}/${i}: ${h.path}`);
    const err = runHook(h, `/hooks/${kind}/${i}`, state);
    if (err) log.warn(err);
  });
}
