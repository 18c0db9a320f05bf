import { CREATE_OPTIONS, createOptionsOf, type CreateArgs } from './create';
import type { Verb } from './verb';

export const runVerb: Verb<CreateArgs & { detach: boolean; keep: boolean }> = {
  name: 'run',
  describe: 'create and start a container, wait for it and delete it',
  positionals: [{ name: 'id', describe: 'container id', required: true }],
  options: {
    ...CREATE_OPTIONS,
    detach: { alias: 'd', type: 'boolean', default: false, describe: 'return once the container runs' },
    keep: { type: 'boolean', default: false, describe: 'do not delete the container after it exits' },
  },
  handler: (a, ctx) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { run } = require('../runtime/run') as typeof import('../runtime/run');
    return run(ctx, a.id, { ...createOptionsOf(a), detach: a.detach, keep: a.keep });
  },
};
