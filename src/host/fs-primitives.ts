// The few filesystem calls Node does not offer that the state store needs: flock on a directory
// fd, renameat2(RENAME_EXCHANGE) and an unlink that answers with an errno instead of throwing
// (an exception costs ~50 us). The one place the store reaches the addon.
import { native } from '../native';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

export const ENOENT = 2; // Linux

/** Blocks until this process holds fd's exclusive lock. */
export function lockExclusive(fd: number): void {
  native().flock(fd, LOCK_EX);
}

/** Takes fd's exclusive lock if no one holds it; false when someone does. */
export function tryLockExclusive(fd: number): boolean {
  return native().flock(fd, LOCK_EX | LOCK_NB);
}

export function unlock(fd: number): void {
  native().flock(fd, LOCK_UN);
}

/** Swaps two paths atomically: 0, or the errno (e.g. EINVAL on a filesystem without it). */
export function exchange(a: string, b: string): number {
  return native().exchange(a, b);
}

/** 0, or the errno of the unlink. */
export function unlinkErrno(file: string): number {
  return native().unlink(file);
}
