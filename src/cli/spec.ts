import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import type { Verb } from './verb';

export const specVerb: Verb<{ bundle: string; rootless: boolean | string }> = {
  name: 'spec',
  describe: 'write a default config.json into the bundle directory',
  positionals: [],
  options: {
    bundle: { alias: 'b', type: 'string', default: '.', describe: 'bundle directory' },
    rootless: { type: 'boolean', default: false, describe: 'a config for a rootless container' },
  },
  handler: (a) => {
    const file = path.join(a.bundle, 'config.json');
    if (fs.existsSync(file)) throw new HuskError(`${file} exists already: remove it first`);
    const rootless = String(a.rootless) === 'true';
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { defaultSpec } = require('../spec/default-config') as typeof import('../spec/default-config');
    const spec = defaultSpec({ rootless, uid: process.getuid?.(), gid: process.getgid?.() });
    try {
      fs.writeFileSync(file, JSON.stringify(spec, null, '\t') + '\n', { mode: 0o666 });
    } catch (e) {
      throw new HuskError(`write ${file}: ${(e as Error).message}`);
    }
  },
};
