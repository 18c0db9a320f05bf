// Bundles the CLI into one file (dist/husk.js) and the library into dist/lib.js: one file to
// read and compile at start-up instead of dozens. The generated validators stay a separate
// file, loaded only by the verbs that read a config.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  /* not a git checkout */
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['./generated/validators.js', 'yargs/yargs'],
  define: { HUSK_COMMIT: JSON.stringify(commit) },
  logLevel: 'warning',
};

fs.mkdirSync('dist/generated', { recursive: true });
fs.copyFileSync('src/spec/generated/validators.js', 'dist/generated/validators.js');
await build({ ...common, entryPoints: ['src/cli/index.ts'], outfile: 'dist/husk.js' });
await build({ ...common, entryPoints: ['src/lib.ts'], outfile: 'dist/lib.js' });
