// Process scheduling and execution domain: ioPriority, scheduler (sched_setattr) and
// linux.personality, as numbers for husk-init.
import { HuskError } from '../errors';
import type { Process, Spec } from '../spec/types';
import { op, type Op } from './ops';

const IOPRIO_CLASS: Record<string, number> = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };

const POLICY: Record<string, number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};

const SCHED_FLAG: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

const PERSONA: Record<string, number> = { LINUX: 0x0000, LINUX32: 0x0008 };

export function planScheduling(p: Process | undefined): Op[] {
  const ops: Op[] = [];
  const io = p?.ioPriority;
  if (io) {
    const cls = Object.hasOwn(IOPRIO_CLASS, io.class) ? IOPRIO_CLASS[io.class] : undefined;
    if (cls === undefined) throw new HuskError(`/process/ioPriority/class: unknown class "${io.class}"`);
    const level = io.priority ?? 0;
    if (level < 0 || level > 7) throw new HuskError(`/process/ioPriority/priority: ${level} is not 0-7`);
    ops.push(
      op(
        'IOPRIO',
        '/process/ioPriority',
        { class: io.class, priority: level },
        { value: (cls << 13) | level },
      ),
    );
  }
  const s = p?.scheduler;
  if (s) {
    const policy = Object.hasOwn(POLICY, s.policy) ? POLICY[s.policy] : undefined;
    if (policy === undefined) throw new HuskError(`/process/scheduler/policy: unknown policy "${s.policy}"`);
    let flags = 0;
    (s.flags ?? []).forEach((f, i) => {
      if (!Object.hasOwn(SCHED_FLAG, f))
        throw new HuskError(`/process/scheduler/flags/${i}: unknown flag "${f}"`);
      flags |= SCHED_FLAG[f];
    });
    ops.push(
      op(
        'SCHEDULER',
        '/process/scheduler',
        { ...s },
        {
          policy,
          flags,
          nice: (s.nice ?? 0) >>> 0,
          priority: s.priority ?? 0,
          runtime: s.runtime ?? 0,
          deadline: s.deadline ?? 0,
          period: s.period ?? 0,
        },
      ),
    );
  }
  return ops;
}

export function planPersonality(spec: Spec): Op[] {
  const p = spec.linux?.personality;
  if (!p) return [];
  const domain = Object.hasOwn(PERSONA, p.domain) ? PERSONA[p.domain] : undefined;
  if (domain === undefined) throw new HuskError(`/linux/personality/domain: unknown domain "${p.domain}"`);
  if (p.flags?.length)
    throw new HuskError(
      '/linux/personality/flags: personality flags are not supported (runc has none either)',
    );
  return [op('PERSONALITY', '/linux/personality', { domain: p.domain }, { persona: domain })];
}
