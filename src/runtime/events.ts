// events: runc's JSON event stream. `--stats` prints one stats event; otherwise a stats event
// every interval, and an "oom" event whenever the container's OOM kill count grows.
import { HuskError } from '../errors';
import type { RuntimeContext } from './context';
import { load } from './lifecycle';
import { oomKills, stats } from './cgroups';

export async function events(
  ctx: RuntimeContext,
  id: string,
  opts: { stats?: boolean; intervalMs: number },
  emit: (event: Record<string, unknown>) => void,
): Promise<void> {
  const { rec, status } = load(ctx, id);
  if (status === 'stopped') throw new HuskError(`container ${id} is not running`);
  if (opts.stats) return emit(stats(rec));
  let ooms = oomKills(rec);
  for (;;) {
    const stopped = load(ctx, id).status === 'stopped';
    // Checked once more after the container stopped: an OOM kill of its init is often why.
    const k = oomKills(rec);
    if (k > ooms) emit({ type: 'oom', id });
    ooms = k;
    if (stopped) return;
    emit(stats(rec));
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}
