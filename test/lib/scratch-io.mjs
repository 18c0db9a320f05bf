// stdout/stderr of a runtime call into unlinked temp files, not pipes: a container that outlives
// the call (run -d, create) inherits them, and with pipes the caller would wait for it to exit.
import fs from 'node:fs';
import path from 'node:path';

/** An open, already unlinked temp file (made in a fresh `${prefix}XXXX` dir, removed at once). */
export function scratchFd(prefix = '/tmp/husk-test-io-') {
  const dir = fs.mkdtempSync(prefix);
  const fd = fs.openSync(path.join(dir, 'out'), 'w+');
  fs.rmSync(dir, { recursive: true, force: true });
  return fd;
}

/** What was written to a scratchFd file; closes it. */
export function drain(/** @type {number} */ fd) {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, buf, off, size - off, off);
    if (n === 0) break;
    off += n;
  }
  fs.closeSync(fd);
  return buf.subarray(0, off).toString('utf8');
}
