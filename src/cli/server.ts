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
    // Loaded here: no other verb needs them. The server runs each call through the command
    // line's own path (serveCall), handed to it so that it imports nothing of the CLI.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { serve } = require('../server/server') as typeof import('../server/server');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { serveCall } = require('./main') as typeof import('./main');
    await serve({
      dir: a.dir,
      runCall: serveCall,
      onListening: (socket) => print(`husk server: listening on ${socket}`),
    });
  },
};
