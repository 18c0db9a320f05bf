// An error from husk-init names the op that failed by its index in the plan; the plan knows
// which config entry that op came from, so the user reads the JSON pointer, not an op number.
import type { SyncMessage } from '../../native';
import { lsmFailure } from '../../plan/lsm';
import type { Op } from '../../plan/ops';

export function describeFailure(ops: readonly Op[], m: SyncMessage): string {
  const plain = lsmFailure(ops[m.op], m.text, m.errno);
  if (plain) return plain;
  const from = ops[m.op]?.from ?? `op ${m.op}`;
  return `${from}: ${m.text}${m.errno ? `: ${m.errnoText}` : ''}`;
}
