// Runs the root test suites again with every husk call they make going through a husk server
// (HUSK_SERVER_DIR in their environment, a server of this run's own): the front, the server's
// per-call scope and the front-started init must pass the same tests as the Node CLI. Fails if
// the suites fail, or if the server served nothing (the suites then tested the Node CLI twice).
//
//   node scripts/test-through-server.mjs [test files...]   (default: integration, security, stress)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHuskServer } from '../test/lib/husk-server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : ['integration', 'security', 'stress'].flatMap((d) =>
        fs
          .readdirSync(path.join(repo, 'test', d))
          .filter((f) => f.endsWith('.test.mjs'))
          .sort()
          .map((f) => path.join('test', d, f)),
      );

const server = await startHuskServer();
let status = 1;
try {
  console.log(`# through a husk server (${server.dir}): ${files.length} test files`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], {
    cwd: repo,
    stdio: 'inherit',
    env: { ...process.env, HUSK_SERVER_DIR: server.dir },
  });
  status = r.status ?? 1;
} finally {
  const tally = await server.stop();
  console.log(`# ${tally.log.trim()}`);
  if (!tally.served) {
    console.error('test-through-server: the server served no call');
    status = 1;
  }
}
process.exit(status);
