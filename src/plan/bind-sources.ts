// Bind sources of a container with a user namespace are opened by a helper of husk-init that
// keeps the host's credentials (OP_SOURCE_HELPER before the user namespace, OP_SOURCE_FDS once
// the first process has its mount namespace), so a source the container's mapped root cannot
// reach can still be bound, as runc does. The init binds from the fd (OP_MOUNT's slot field).
import path = require('node:path');
import type { Spec } from '../spec/types';
import { idmapOf } from './idmap-mounts';
import { parseMountOptions } from './mountopts';
import { op, type Op } from './ops';

// husk-init's table (MAX_SOURCE_FDS); binds past it are made from their path, as without a
// user namespace.
const MAX_SOURCE_FDS = 64;

/** mounts[] index → slot (1-based) of the binds whose source the helper opens. */
export function sourceSlots(spec: Spec, userNs: boolean): Map<number, number> {
  const slots = new Map<number, number>();
  if (!userNs) return slots;
  (spec.mounts ?? []).forEach((m, i) => {
    const o = parseMountOptions(m.options);
    const bind = o.bind || m.type === 'bind';
    // cgroup binds are planned from the host layout; idmapped ones have trees of their own;
    // /proc is checked to be a procfs by the init on a source it opens itself.
    if (!bind || m.type === 'cgroup' || !m.source || idmapOf(spec, i)) return;
    if (path.posix.normalize('/' + m.destination).replace(/\/+$/, '') === '/proc') return;
    if (slots.size < MAX_SOURCE_FDS) slots.set(i, slots.size + 1);
  });
  return slots;
}

/** The helper (before the user namespace) and the hand-over (before the init is forked). */
export function planBindSources(spec: Spec, bundle: string, userNs: boolean): { helper: Op[]; fds: Op[] } {
  const slots = sourceSlots(spec, userNs);
  if (!slots.size) return { helper: [], fds: [] };
  const sources = [...slots.keys()].map((i) => path.resolve(bundle, spec.mounts![i].source!));
  return {
    helper: [op('SOURCE_HELPER', '/mounts', { sources }, { sources })],
    fds: [op('SOURCE_FDS', '/mounts', {})],
  };
}
