// Runs 100 sandboxed shell commands in one Node process with husk's library API (no runtime
// process per container) and prints what each printed and its exit code.
//   node scripts/ensure-rootfs.mjs && node examples/sandbox.js      (as root)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Runtime } = require('..');

async function main() {
  const rootfs = path.join(__dirname, 'busybox', 'rootfs');
  const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-sandbox-'));
  const rt = new Runtime({ root: path.join(bundle, 'state') });
  const base = JSON.parse(fs.readFileSync(path.join(__dirname, 'busybox', 'config.json'), 'utf8'));
  base.root = { path: rootfs, readonly: true };
  try {
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      const spec = structuredClone(base);
      spec.process.args = ['sh', '-c', `echo "job ${i}: $((${i} * ${i}))"; exit $((${i} % 3))`];
      const out = path.join(bundle, `out-${i}`);
      const fd = fs.openSync(out, 'w+');
      let code;
      try {
        code = await rt.run(`job-${i}`, { bundle, spec, stdio: [null, fd, fd] });
      } finally {
        fs.closeSync(fd);
      }
      process.stdout.write(`${fs.readFileSync(out, 'utf8').trim()}  (exit ${code})\n`);
    }
    process.stdout.write(`100 containers in ${Date.now() - started} ms\n`);
  } finally {
    fs.rmSync(bundle, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
