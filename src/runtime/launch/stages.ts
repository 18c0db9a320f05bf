// The stage-order table: which messages husk-init sends during set-up, in which order, and what
// each wants back, read off the plan. The init runs its ops in order and every message carries
// the index of the op that sent it, so at each point exactly one message may come next (or an
// error): anything else is a fault of the protocol, refused rather than guessed around.
import { fieldIndex, MSG, STAGE, type Op, type OpName } from '../../plan/ops';

export type StepKind =
  'cgroup' | 'usermap' | 'createRuntime' | 'createContainer' | 'pid' | 'seccomp' | 'ready';

export interface Step {
  kind: StepKind;
  op: number; // index in the plan of the op that sends it
  type: number; // MSG.SYNC, MSG.PID or MSG.SECCOMP_FD
  stage: number; // MSG.SYNC's stage, else 0
  withState: boolean; // FETCH_STATE: the answer is followed by the container's state JSON
  answeredEarly: boolean; // NOTIFY: answered at the pid message before it, not when it comes
}

const STAGE_KIND: Record<number, StepKind> = {
  [STAGE.CGROUP]: 'cgroup',
  [STAGE.USERMAP]: 'usermap',
  [STAGE.CREATE_RUNTIME]: 'createRuntime',
  [STAGE.CREATE_CONTAINER]: 'createContainer',
  [STAGE.READY]: 'ready',
};

const NEW_LISTENER = 1 << 3; // SECCOMP_FILTER_FLAG_NEW_LISTENER: the init hands the fd over

function sync(o: Op, extra: Partial<Step> = {}): Omit<Step, 'op'> {
  const f = o.fields[fieldIndex(o.op as 'SYNC', 'stage')];
  const stage = f && 'u32' in f ? f.u32 : -1;
  const kind = STAGE_KIND[stage];
  if (!kind) throw new Error(`plan: ${o.op} with unknown stage ${stage}`);
  return { kind, type: MSG.SYNC, stage, withState: false, answeredEarly: false, ...extra };
}

// The ops that talk on the sync socket (addon/init: sync_stage, op_fetch_state, op_userns,
// op_fork_init, hand_over_listener); every other op says nothing unless it fails.
const TALKS: Partial<Record<OpName, (o: Op) => Omit<Step, 'op'> | null>> = {
  SYNC: (o) => sync(o),
  NOTIFY: (o) => sync(o, { answeredEarly: true }),
  FETCH_STATE: (o) => sync(o, { withState: true }),
  USERNS: () => ({
    kind: 'usermap',
    type: MSG.SYNC,
    stage: STAGE.USERMAP,
    withState: false,
    answeredEarly: false,
  }),
  FORK_INIT: () => ({ kind: 'pid', type: MSG.PID, stage: 0, withState: false, answeredEarly: false }),
  SECCOMP: (o) => {
    const f = o.fields[fieldIndex('SECCOMP', 'flags')];
    return f && 'u32' in f && f.u32 & NEW_LISTENER
      ? { kind: 'seccomp', type: MSG.SECCOMP_FD, stage: 0, withState: false, answeredEarly: false }
      : null;
  },
};

// The messages of set-up, up to and including the ready stage (what comes after it, a failed
// exec or startContainer hook, is run's to read).
export function stageTable(ops: readonly Op[]): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < ops.length; i++) {
    const s = TALKS[ops[i].op]?.(ops[i]);
    if (!s) continue;
    // NOTIFY is answered early at the pid right before it (plan/index.ts plans it only where
    // nothing talks between the fork and ready); anywhere else, when it comes.
    const early = s.answeredEarly && steps.at(-1)?.kind === 'pid';
    steps.push({ ...s, op: i, answeredEarly: early });
    if (s.kind === 'ready') return steps;
  }
  throw new Error('plan: no ready stage');
}

export function matches(step: Step, m: { type: number; op: number; stage: number }): boolean {
  return m.type === step.type && m.op === step.op && (step.type !== MSG.SYNC || m.stage === step.stage);
}

export function label(m: { type: number; op: number; stage: number }): string {
  const what =
    m.type === MSG.SYNC
      ? `stage ${STAGE_KIND[m.stage] ?? m.stage}`
      : m.type === MSG.PID
        ? 'a pid'
        : m.type === MSG.SECCOMP_FD
          ? 'a seccomp listener'
          : `message type ${m.type}`;
  return `${what} (op ${m.op})`;
}
