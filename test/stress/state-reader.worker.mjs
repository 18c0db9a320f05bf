// A worker thread for concurrency.test.mjs: reads <root>/<id>/state.json in a tight loop until
// told to stop, and reports how many reads parsed, how many found no file, and every read that
// was not valid JSON.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

const { file, stopFlag } = workerData;
const stop = new Int32Array(stopFlag);
const out = { reads: 0, parsed: 0, missing: 0, bad: [] };
while (Atomics.load(stop, 0) === 0) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    out.reads++;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') out.missing++;
    else if (out.bad.length < 20) out.bad.push(`read: ${e.code ?? e.message}`);
    continue;
  }
  out.reads++;
  try {
    const rec = JSON.parse(text);
    if (typeof rec !== 'object' || rec === null || typeof rec.id !== 'string')
      throw new Error('not a record');
    out.parsed++;
  } catch (e) {
    if (out.bad.length < 20) out.bad.push(`${e.message}: ${JSON.stringify(text.slice(0, 200))}`);
  }
}
parentPort.postMessage(out);
