// The verbs that take an id and little else: start, state, kill, delete, list.
import { destroy, kill, list, start, state } from '../runtime/lifecycle';
import { ID, print, type Verb } from './verb';

export const startVerb: Verb<{ id: string }> = {
  name: 'start',
  describe: 'start a created container',
  positionals: [ID],
  options: {},
  handler: (a, ctx) => start(ctx, a.id),
};

export const stateVerb: Verb<{ id: string }> = {
  name: 'state',
  describe: 'print the state of a container as JSON',
  positionals: [ID],
  options: {},
  handler: (a, ctx) => print(JSON.stringify(state(ctx, a.id), null, 2)),
};

export const killVerb: Verb<{ id: string; signal?: string; all: boolean }> = {
  name: 'kill',
  describe: 'send a signal (default SIGTERM) to the container init',
  positionals: [ID, { name: 'signal', describe: 'name (KILL, SIGKILL) or number' }],
  options: {
    all: { alias: 'a', type: 'boolean', default: false, describe: 'signal every process of the container' },
  },
  handler: (a, ctx) => kill(ctx, a.id, a.signal, a.all),
};

export const deleteVerb: Verb<{ id: string; force: boolean }> = {
  name: 'delete',
  describe: 'delete a container and everything it holds',
  positionals: [ID],
  options: {
    force: { alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first' },
  },
  handler: (a, ctx) => destroy(ctx, a.id, a.force),
};

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3))).join(''))
    .join('\n');
}

export const listVerb: Verb<{ format: string; quiet: boolean }> = {
  name: 'list',
  describe: 'list containers',
  positionals: [],
  options: {
    format: {
      alias: 'f',
      type: 'string',
      choices: ['table', 'json'],
      default: 'table',
      describe: 'output format',
    },
    quiet: { alias: 'q', type: 'boolean', default: false, describe: 'print only ids' },
  },
  handler: (a, ctx) => {
    const all = list(ctx);
    if (a.quiet) return print(all.map((s) => s.id).join('\n'));
    // runc encodes an empty Go slice: null, not [].
    if (a.format === 'json') return print(JSON.stringify(all.length ? all : null));
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
    for (const s of all)
      rows.push([
        s.id,
        String(s.pid ?? 0),
        s.status,
        s.bundle,
        String(s.created ?? ''),
        String(s.owner || 'root'),
      ]);
    print(table(rows));
  },
};
