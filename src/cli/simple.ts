// The verbs that take an id and little else: start, state, kill, delete, list.
import { destroy, kill, list, start, state } from '../runtime/lifecycle';
import { print, type Verb } from './verb';

export const startVerb: Verb<{ id: string }> = {
  command: 'start <id>',
  describe: 'start a created container',
  builder: (y) => y.positional('id', { type: 'string' }),
  handler: (a, ctx) => start(ctx, a.id),
};

export const stateVerb: Verb<{ id: string }> = {
  command: 'state <id>',
  describe: 'print the state of a container as JSON',
  builder: (y) => y.positional('id', { type: 'string' }),
  handler: (a, ctx) => print(JSON.stringify(state(ctx, a.id), null, 2)),
};

export const killVerb: Verb<{ id: string; signal?: string; all: boolean }> = {
  command: 'kill <id> [signal]',
  describe: 'send a signal (default SIGTERM) to the container init',
  builder: (y) =>
    y
      .positional('id', { type: 'string' })
      .positional('signal', { type: 'string', describe: 'name (KILL, SIGKILL) or number' })
      .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container' }),
  handler: (a, ctx) => kill(ctx, a.id, a.signal, a.all),
};

export const deleteVerb: Verb<{ id: string; force: boolean }> = {
  command: 'delete <id>',
  describe: 'delete a container and everything it holds',
  builder: (y) =>
    y
      .positional('id', { type: 'string' })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first' }),
  handler: (a, ctx) => destroy(ctx, a.id, a.force),
};

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join('')).join('\n');
}

export const listVerb: Verb<{ format: string; quiet: boolean }> = {
  command: 'list',
  describe: 'list containers',
  builder: (y) =>
    y
      .option('format', { alias: 'f', type: 'string', choices: ['table', 'json'], default: 'table' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only ids' }),
  handler: (a, ctx) => {
    const all = list(ctx);
    if (a.quiet) return print(all.map((s) => s.id).join('\n'));
    if (a.format === 'json') return print(JSON.stringify(all));
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
    for (const s of all)
      rows.push([s.id, String(s.pid ?? 0), s.status, s.bundle, String(s.created ?? ''), String(s.owner || 'root')]);
    print(table(rows));
  },
};
