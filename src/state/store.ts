// The state store: <root>/<id>/ holds state.json (written whole: temp file + rename, so a
// reader sees the old or the new file) and exec.fifo; an flock on the directory serialises
// every husk process that changes one container.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import {
  ENOENT,
  exchange,
  lockExclusive,
  tryLockExclusive,
  unlinkErrno,
  unlock,
} from '../host/fs-primitives';
import { checkId } from './id';
import type { Spec } from '../spec/types';

export interface ContainerRecord {
  ociVersion: string;
  id: string;
  pid: number;
  startTime: string; // field 22 of /proc/<pid>/stat: tells our init from a reused pid
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  cgroupDirs: string[]; // the container's own cgroup directories
  cgroupMade?: string[]; // those and their parents that husk made, removed by delete
  // No mount namespace of its own: the rootfs bind made in the runtime's, on top of mount `below`
  // (the id of what was there before), detached at delete (src/runtime/host-rootfs.ts).
  hostRootfsMount?: { path: string; below: number };
  // --systemd-cgroup: the container's unit, stopped by delete; base as planned (update plans again).
  systemd?: { unit: string; userManager: boolean; base: string };
  freezerDir: string | null;
  namespaces: Record<string, string>; // type -> path given in config ('' when new)
  config?: string; // path of the config snapshot
}

export class Store {
  constructor(public readonly root: string) {}

  dir(id: string): string {
    return path.join(this.root, checkId(id));
  }

  ensureRoot(): void {
    try {
      fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    } catch (e) {
      throw new HuskError(`--root ${this.root}: ${(e as Error).message}`);
    }
  }

  // Makes the container's directory; fails if the id is taken. Returns a locked handle.
  claim(id: string): Lock {
    this.ensureRoot();
    const dir = this.dir(id);
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new HuskError(`container ${id} already exists`);
      throw new HuskError(`create state directory ${dir}: ${(e as Error).message}`);
    }
    // A `delete --force` may remove the directory between our mkdir and our lock; the id is
    // free again then, so claim it anew rather than fill a directory that is gone.
    let lock: Lock;
    try {
      lock = Lock.take(dir);
    } catch (e) {
      if (!fs.existsSync(dir)) return this.claim(id);
      throw e;
    }
    if (lock.removed()) {
      lock.release();
      return this.claim(id);
    }
    return lock;
  }

  lock(id: string): Lock {
    const dir = this.dir(id);
    if (!this.exists(id)) throw new HuskError(`container ${id} does not exist`);
    return Lock.take(dir);
  }

  // Neither the container's directory nor state.json is followed through a symlink: --root
  // is the only place husk reads state from.
  read(id: string): ContainerRecord | null {
    if (!this.exists(id)) return null;
    try {
      return readJsonNoFollow<ContainerRecord>(path.join(this.dir(id), 'state.json'));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ELOOP')
        throw new HuskError(`container ${id}: state.json is a symlink, which husk never follows`);
      throw new HuskError(`container ${id}: unreadable state: ${(e as Error).message}`);
    }
  }

  write(rec: ContainerRecord): void {
    writeAtomic(path.join(this.dir(rec.id), 'state.json'), JSON.stringify(rec), 0o600, true);
  }

  // A record written now and put in place later by commit() (at once): create writes the
  // ready record while the init still sets up. Until then readers see the one before it.
  prepare(rec: ContainerRecord): { commit: () => void } {
    return prepareAtomic(path.join(this.dir(rec.id), 'state.json'), JSON.stringify(rec), 0o600, true);
  }

  // The config snapshot create saved: what start, exec, update and delete act on.
  readConfig(id: string): Spec | null {
    try {
      return readJsonNoFollow<Spec>(path.join(this.dir(id), 'config.json'));
    } catch {
      return null;
    }
  }

  writeConfig(id: string, spec: Spec): void {
    writeAtomic(path.join(this.dir(id), 'config.json'), JSON.stringify(spec), 0o600, true);
  }

  // A record without a pid belongs to a create still in progress while its lock is held.
  beingCreated(id: string): boolean {
    let fd = -1;
    try {
      fd = fs.openSync(
        this.dir(id),
        fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW,
      );
      const got = tryLockExclusive(fd);
      if (got) unlock(fd);
      return !got;
    } catch {
      return false;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  exists(id: string): boolean {
    try {
      if (!fs.lstatSync(this.dir(id)).isDirectory())
        throw new HuskError(`${this.dir(id)} is not a directory (a symlink is never followed)`);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  // The files create writes (the directory stays, and with it the id, until remove()).
  removeFiles(id: string): void {
    // exec.fifo is gone after start (and never made for run): no exception for what is not
    // there (an exception costs ~50 us).
    for (const f of ['state.json', 'config.json', 'exec.fifo']) {
      const err = unlinkErrno(path.join(this.dir(id), f));
      if (err !== 0 && err !== ENOENT) unlinkIfThere(path.join(this.dir(id), f)); // says why
    }
  }

  // Only the directory the lock is on: if it was removed and the id claimed again meanwhile,
  // the path now names another container's directory, which is not ours to remove.
  remove(id: string, lock?: Lock): void {
    const dir = this.dir(id);
    if (lock && !lock.sameAs(dir)) return;
    removeFlatDir(dir);
  }

  ids(): string[] {
    try {
      return fs
        .readdirSync(this.root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
        .map((d) => d.name)
        .sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new HuskError(`--root ${this.root}: ${(e as Error).message}`);
    }
  }
}

// Containers this process holds the lock of. flock(2) locks belong to an open file, so a
// second lock of the same container from this process (the library: a delete while its create
// is still awaited) would block the event loop that the first one needs to finish: refused.
const heldHere = new Set<string>();

export class Lock {
  private constructor(
    private fd: number,
    private dir: string,
  ) {}

  static take(dir: string): Lock {
    if (heldHere.has(dir))
      throw new HuskError(
        `container ${path.basename(dir)} is busy: another operation of this process is working on it`,
      );
    // O_NOFOLLOW via the 'r' flag on a directory is not offered by Node; lstat first.
    let fd: number;
    try {
      const st = fs.lstatSync(dir);
      if (!st.isDirectory()) throw new HuskError(`${dir} is not a directory`);
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new HuskError(`container ${path.basename(dir)} does not exist`);
      throw e;
    }
    try {
      lockExclusive(fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    heldHere.add(dir);
    return new Lock(fd, dir);
  }

  removed(): boolean {
    return fs.fstatSync(this.fd).nlink === 0;
  }

  sameAs(dir: string): boolean {
    try {
      const a = fs.fstatSync(this.fd);
      const b = fs.lstatSync(dir);
      return a.ino === b.ino && a.dev === b.dev && a.nlink > 0;
    } catch {
      return false;
    }
  }

  // inBackground: the close goes to the thread pool. The last close of a directory that was
  // removed frees it, which on ext4 takes ~0.15 ms; the lock itself is let go here and now.
  release(inBackground = false): void {
    if (this.fd < 0) return;
    try {
      unlock(this.fd);
    } finally {
      if (inBackground) fs.close(this.fd, () => {});
      else fs.closeSync(this.fd);
      this.fd = -1;
      heldHere.delete(this.dir);
    }
  }
}

export function writeAtomic(file: string, data: string, mode = 0o600, swap = false): void {
  prepareAtomic(file, data, mode, swap).commit();
}

// Writes `data` beside `file` now; commit() puts it in place at once, so readers see the old
// content or the new, never a part of it. swap (the state store's own files): a file in place
// already is swapped with the new one (RENAME_EXCHANGE) and then unlinked, as on ext4 a rename
// over it costs more, now and at delete (see exchange in addon/binding.cc). Not for a path the
// user gave: the exchange would as well swap a directory there aside.
export function prepareAtomic(
  file: string,
  data: string,
  mode = 0o600,
  swap = false,
): { commit: () => void } {
  const tmp = `${file}.${process.pid}.tmp`;
  const failed = (e: unknown) => {
    unlinkIfThere(tmp);
    return new HuskError(`write ${file}: ${(e as Error).message}`);
  };
  try {
    fs.writeFileSync(tmp, data, { mode });
  } catch (e) {
    throw failed(e);
  }
  return {
    commit: () => {
      if (swap && exchange(tmp, file) === 0) {
        unlinkErrno(tmp);
        return;
      }
      // Nothing in place yet (or a filesystem without the exchange): a rename.
      try {
        fs.renameSync(tmp, file);
      } catch (e) {
        throw failed(e);
      }
    },
  };
}

export function unlinkIfThere(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

// fs.rmSync loads and runs a general tree walker (~3 ms at its first use in a CLI call); a
// state directory holds a few plain files. Anything else in it goes the general way.
function removeFlatDir(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const n of names) {
    try {
      fs.unlinkSync(path.join(dir, n));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'EPERM')
        fs.rmSync(path.join(dir, n), { recursive: true, force: true });
      else if (code !== 'ENOENT') throw e;
    }
  }
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY') fs.rmSync(dir, { recursive: true, force: true });
    else if (code !== 'ENOENT') throw e;
  }
}

// A JSON file never read through a symlink (ELOOP); errors are the caller's to name.
function readJsonNoFollow<T>(file: string): T {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return JSON.parse(fs.readFileSync(fd, 'utf8')) as T;
  } finally {
    fs.closeSync(fd);
  }
}
