// `husk server` (husk's own verb; runc has none): see src/server/server.ts.
import { print, type Verb } from './verb';

export const serverVerb: Verb<{ dir?: string }> = {
  name: 'server',
  describe:
    'serve the calls of the `husk` front binary from this one Node process, so they cost no Node start-up (runs until stopped)',
  positionals: [],
  options: {
    dir: {
      type: 'string',
      describe:
        'directory for the socket (default: $HUSK_SERVER_DIR, else /run/husk-server for root, $XDG_RUNTIME_DIR/husk-server for others)',
    },
  },
  handler: async (a) => {
    // Loaded here: no other verb needs it (and it uses the CLI's own call path).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { serve } = require('../server/server') as typeof import('../server/server');
    await serve({ dir: a.dir, onListening: (socket) => print(`husk server: listening on ${socket}`) });
  },
};
