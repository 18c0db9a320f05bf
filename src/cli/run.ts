import { run } from '../runtime/run';
import { createOptions, type CreateArgs } from './create';
import type { Verb } from './verb';

export const runVerb: Verb<CreateArgs & { detach: boolean; keep: boolean }> = {
  command: 'run <id>',
  describe: 'create and start a container, wait for it and delete it',
  builder: (y) =>
    createOptions(y)
      .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'return once the container runs' })
      .option('keep', { type: 'boolean', default: false, describe: 'do not delete the container after it exits' }),
  handler: async (a, ctx) => {
    const code = await run(ctx, a.id, {
      bundle: a.bundle,
      pidFile: a['pid-file'],
      consoleSocket: a['console-socket'],
      noPivot: a['no-pivot'],
      preserveFds: a['preserve-fds'],
      detach: a.detach,
      keep: a.keep,
    });
    process.exitCode = code;
  },
};
