// Bundles the CLI into one file (dist/husk.js) and the library into dist/lib.js: one file to
// read and compile at start-up instead of dozens. The generated validators stay a separate
// file, loaded only by the verbs that read a config.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
} catch {
  /* not a git checkout */
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // The systemd driver's D-Bus client is its own file (dist/systemd.js), read only when used.
  external: ['./generated/validators.js', 'yargs/yargs', './systemd'],
  define: { HUSK_COMMIT: JSON.stringify(commit) },
  logLevel: 'warning',
  // Less to read and hash at every start; names stay (error messages and stacks use them).
  minifyWhitespace: true,
  minifySyntax: true,
};

fs.mkdirSync('dist/generated', { recursive: true });
fs.copyFileSync('src/spec/generated/validators.js', 'dist/generated/validators.js');
await build({ ...common, entryPoints: ['src/cli/index.ts'], outfile: 'dist/husk.js' });
await build({ ...common, entryPoints: ['src/lib.ts'], outfile: 'dist/lib.js' });
await build({ ...common, entryPoints: ['src/runtime/cgroups/systemd/index.ts'], outfile: 'dist/systemd.js' });

// V8 code caches for bin/husk.js, written at exit by runs of the CLI over paths that compile what
// a call needs: dist/husk.js.light.cache for the verbs that read or signal a container (a state
// read, a delete), dist/husk.js.cache for the others (a config validated and planned). bin/husk.js
// picks one by the verb. A run starts from the cache the one before wrote, so they add up.
const warm = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-build-'));
try {
  const config = JSON.parse(fs.readFileSync('examples/busybox/config.json', 'utf8'));
  config.root.path = path.join(warm, 'no-rootfs'); // fails after validation and planning
  fs.writeFileSync(path.join(warm, 'config.json'), JSON.stringify(config));
  for (const args of [
    ['--root', path.join(warm, 'root'), 'state', 'warmup'],
    ['--root', path.join(warm, 'root'), 'delete', '--force', 'warmup'],
    ['--root', path.join(warm, 'root'), 'create', '--bundle', warm, 'warmup'],
  ]) {
    try {
      execFileSync(process.execPath, ['bin/husk.js', ...args], {
        env: { ...process.env, HUSK_WRITE_CODE_CACHE: '1' },
        stdio: 'ignore',
      });
    } catch {
      /* both calls fail on purpose, after compiling what they need */
    }
  }
} finally {
  fs.rmSync(warm, { recursive: true, force: true });
}
