// The one launch handshake of create, exec and run: start husk-init through the Launcher, serve
// its set-up messages in the order the stage table says, and on any failure (a spawn that
// fails, an error from the init, an init that dies, a message out of order, one that never
// comes) kill what was started, reap it, and run the caller's undo. The caller says what each
// stage does (StageHandlers); the handshake owns the order, the answers and the processes.
import { HuskError } from '../../errors';
import type { SyncMessage } from '../../native';
import { MSG, type Op } from '../../plan/ops';
import type { RuntimeContext } from '../context';
import type { SpawnRequest } from '../launcher';
import type { Undo } from '../undo';
import { syncIo, type SyncIo } from './channel';
import { describeFailure } from './failure';
import { label, matches, stageTable, type Step } from './stages';

// Each handler gets the pid of the process that sent the stage: the first one until it names
// the next (a pid message), then that one.
export interface StageHandlers {
  cgroup?(pid: number): void;
  usermap?(pid: number): void;
  createRuntime?(pid: number): void;
  pid?(pid: number): void | Promise<void>;
  seccomp?(fd: number, pid: number): void; // the fd is the handler's
  ready?(pid: number): void;
  // The state JSON sent after a FETCH_STATE stage's answer (createContainer, ready).
  state?(kind: 'createContainer' | 'ready', pid: number): unknown;
}

export interface LaunchRequest {
  what: 'create' | 'exec'; // for the words of errors
  ops: readonly Op[]; // the plan, after compileInto: its op indices are the init's
  spawn: SpawnRequest;
  // The caller's clean-up so far: on failure the handshake adds the init's kill on top and runs
  // it all; on success it is cleared (everything set up is kept).
  undo: Undo;
  stages: StageHandlers;
  // Work done while husk-init starts (create: the record, the cgroups). Its failure is raised
  // once the spawn is done, so the init is killed too.
  alongside?: () => void;
  spawnFailed?: (e: Error) => Error; // the caller's words for a launcher that failed
  spawned?: (pid: number) => void;
  beforeKill?: (pids: number[]) => void; // create: a frozen v1 cgroup keeps SIGKILL from acting
  timedOut?: () => string; // more words for a deadline that passed (create: a frozen cgroup)
  keepSync?: boolean; // run: the socket stays open to hear of a failed exec
  io?: SyncIo;
}

export interface Launched {
  pid: number; // the process set up: the container's init, or exec's process
  syncFd: number; // -1 unless kept
  describe: (m: SyncMessage) => string; // an init's error message in the config's terms
}

const ETIMEDOUT = 110; // Linux

// How long the runtime waits for each message of the init: never for ever on a process that
// cannot run (a cgroup frozen under it, a hook that hangs). HUSK_INTERNAL_SYNC_TIMEOUT_MS
// shortens it for husk's own tests.
export function syncTimeoutMs(): number {
  const t = Number(process.env.HUSK_INTERNAL_SYNC_TIMEOUT_MS);
  return Number.isInteger(t) && t > 0 ? t : 60_000;
}

const WORDS = {
  create: {
    noun: 'container init',
    died: 'container init exited during create without saying why',
    prefix: '',
  },
  exec: { noun: 'exec process', died: 'exec: the process exited before it was set up', prefix: 'exec: ' },
};

export async function launch(
  ctx: Pick<RuntimeContext, 'launcher' | 'log' | 'inProcess'>,
  req: LaunchRequest,
): Promise<Launched> {
  const { launcher } = ctx;
  const io = req.io ?? syncIo(!!ctx.inProcess);
  const words = WORDS[req.what];
  const table = stageTable(req.ops);
  const describe = (m: SyncMessage) => describeFailure(req.ops, m);
  // The promise never rejects, so nothing is left unhandled should `alongside` fail first; a
  // launcher that throws at once (the CLI's synchronous spawn) resolves to its error too.
  const spawning = (async () => launcher.spawn(req.spawn))().catch((e: Error) => e);
  let alongsideFailed: unknown = null;
  try {
    req.alongside?.();
  } catch (e) {
    alongsideFailed = e;
  }
  let syncFd = -1;
  // The process talking now, and those that named the next one and exit by themselves
  // (collected at ready, by when they are gone for sure).
  let talking = -1;
  const exited: number[] = [];
  try {
    const child = await spawning;
    if (child instanceof Error) {
      if (alongsideFailed) throw alongsideFailed;
      throw req.spawnFailed ? req.spawnFailed(child) : child;
    }
    talking = child.pid;
    syncFd = child.syncFd;
    req.undo.push(`stop the ${words.noun}`, () => {
      const live = talking > 0 ? [talking] : [];
      req.beforeKill?.(live);
      for (const p of live) io.kill(p);
      for (const p of [...exited, ...live]) launcher.reap(p);
    });
    if (alongsideFailed) throw alongsideFailed;
    req.spawned?.(talking);
    const timeoutMs = syncTimeoutMs();
    for (const step of table) {
      const m = await next(io, syncFd, timeoutMs, req, words);
      if (m === null) throw new HuskError(words.died);
      if (m.type === MSG.ERROR) throw new HuskError(`${words.prefix}${describe(m)}`);
      if (!matches(step, m)) {
        if (m.fd !== undefined) io.close(m.fd);
        throw new HuskError(`sync: the ${words.noun} sent ${label(m)} where ${label(step)} was expected`);
      }
      await serve(step, m, { io, syncFd, req, table, pid: () => talking });
      if (step.kind === 'pid') {
        exited.push(talking);
        talking = m.pid;
        await req.stages.pid?.(talking);
        // A NOTIFY ready stage is answered now: from here the init may run the program. An init
        // that failed meanwhile has closed its end: its error is the next message.
        if (nextStep(table, step)?.answeredEarly) {
          try {
            io.reply(syncFd, MSG.ACK);
          } catch {
            /* read next */
          }
        }
      } else if (step.kind === 'ready') {
        for (const p of exited.splice(0)) launcher.reap(p);
        if (step.withState) io.sendData(syncFd, stateOf(req, 'ready', talking));
      }
    }
    req.undo.clear();
    const kept = req.keepSync ? syncFd : -1;
    if (req.keepSync) syncFd = -1;
    return { pid: talking, syncFd: kept, describe };
  } catch (e) {
    req.undo.run((what, err) =>
      ctx.log.warn(`cleanup after failed ${req.what}: ${what}: ${(err as Error).message}`),
    );
    throw e;
  } finally {
    if (syncFd >= 0) io.close(syncFd);
  }
}

function nextStep(table: Step[], s: Step): Step | undefined {
  return table[table.indexOf(s) + 1];
}

async function next(
  io: SyncIo,
  fd: number,
  timeoutMs: number,
  req: LaunchRequest,
  words: (typeof WORDS)['create'],
): Promise<SyncMessage | null> {
  try {
    return await io.recv(fd, timeoutMs);
  } catch (e) {
    if ((e as { errno?: number }).errno !== ETIMEDOUT) throw e;
    throw new HuskError(
      `${words.prefix}${words.noun} did not answer within ${timeoutMs / 1000} s${req.timedOut?.() ?? ''}; ${req.what} gave up and killed it`,
    );
  }
}

function stateOf(req: LaunchRequest, kind: 'createContainer' | 'ready', pid: number): Buffer {
  if (!req.stages.state)
    throw new HuskError(`sync: the plan asks for the state at ${kind}, and none was given`);
  return Buffer.from(JSON.stringify(req.stages.state(kind, pid)));
}

// One stage: what the caller does there, then the answer the init waits for.
async function serve(
  step: Step,
  m: SyncMessage,
  c: { io: SyncIo; syncFd: number; req: LaunchRequest; table: Step[]; pid: () => number },
): Promise<void> {
  const h = c.req.stages;
  const pid = c.pid();
  switch (step.kind) {
    case 'pid':
      return; // the sender exits; nothing to answer
    case 'seccomp':
      if (!h.seccomp) {
        c.io.close(m.fd!);
        throw new HuskError('sync: a seccomp listener came and nobody takes it');
      }
      h.seccomp(m.fd!, pid);
      break;
    case 'cgroup':
      h.cgroup?.(pid);
      break;
    case 'usermap':
      h.usermap?.(pid);
      break;
    case 'createRuntime':
      h.createRuntime?.(pid);
      break;
    case 'createContainer':
      break;
    case 'ready':
      h.ready?.(pid);
      break;
  }
  if (!step.answeredEarly) c.io.reply(c.syncFd, MSG.ACK);
  if (step.withState && step.kind === 'createContainer')
    c.io.sendData(c.syncFd, stateOf(c.req, 'createContainer', pid));
}
