// pause, resume, ps, features, events.
import { HuskError } from '../errors';
import { cgroupPids } from '../runtime/cgroups';
import { pause, resume } from '../runtime/pause';
import { load } from '../runtime/lifecycle';
import { ID, print, type Verb } from './verb';

export const pauseVerb: Verb<{ id: string }> = {
  name: 'pause',
  describe: 'freeze every process of a container',
  positionals: [ID],
  options: {},
  handler: (a, ctx) => pause(ctx, a.id),
};

export const resumeVerb: Verb<{ id: string }> = {
  name: 'resume',
  describe: 'thaw a paused container',
  positionals: [ID],
  options: {},
  handler: (a, ctx) => resume(ctx, a.id),
};

export const psVerb: Verb<{ id: string; format: string; 'ps-args': string[] }> = {
  name: 'ps',
  describe: 'list the processes of a container (json: their host pids)',
  positionals: [ID, { name: 'ps-args', describe: 'options for ps(1)', variadic: true }],
  haltAtNonOption: true,
  options: {
    format: {
      alias: 'f',
      type: 'string',
      choices: ['table', 'json'],
      default: 'table',
      describe: 'output format',
    },
  },
  handler: (a, ctx) => {
    // A stopped container has no processes: the header and no rows (json: null), as runc.
    const { rec } = load(ctx, a.id);
    const pids = cgroupPids(rec.cgroupDirs).sort((x, y) => x - y);
    if (a.format === 'json') return print(pids.length ? JSON.stringify(pids) : 'null');
    const args = a['ps-args'].length ? a['ps-args'] : ['-ef'];
    // Loaded here: only ps runs a program.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const out = execFileSync('ps', args, { encoding: 'utf8' }).split('\n');
    const pidCol = out[0].trim().split(/\s+/).indexOf('PID');
    if (pidCol < 0) throw new HuskError(`ps ${args.join(' ')}: no PID column in its output`);
    const want = new Set(pids.map(String));
    print([out[0], ...out.slice(1).filter((l) => want.has(l.trim().split(/\s+/)[pidCol]))].join('\n'));
  },
};

export const featuresVerb: Verb = {
  name: 'features',
  describe: 'print what this runtime supports (runtime-spec features.md)',
  positionals: [],
  options: {},
  handler: () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { features } = require('../runtime/features') as typeof import('../runtime/features');
    print(JSON.stringify(features(), null, 2));
  },
};

export const eventsVerb: Verb<{ id: string; stats: boolean; interval: string }> = {
  name: 'events',
  describe: 'stream the stats (and OOM events) of a container as JSON lines',
  positionals: [ID],
  options: {
    stats: { type: 'boolean', default: false, describe: 'print one stats event and exit' },
    interval: { type: 'string', default: '5s', describe: 'time between stats events (e.g. 5s, 500ms)' },
  },
  handler: async (a, ctx) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(a.interval);
    if (!m) throw new HuskError(`--interval ${a.interval}: expected a duration like 5s or 500ms`);
    const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60000 : 1000);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { events } = require('../runtime/events') as typeof import('../runtime/events');
    await events(ctx, a.id, { stats: a.stats, intervalMs: Math.max(ms, 10) }, (e) =>
      print(JSON.stringify(e)),
    );
  },
};
