// Container ids become directory names under --root: only a safe alphabet, as runc and crun.
import { HuskError } from '../errors';

const ID = /^[A-Za-z0-9_+.-]+$/;

export function checkId(id: unknown): string {
  if (typeof id !== 'string' || id === '') throw new HuskError('container id must not be empty');
  // The id names a directory: NAME_MAX is the real limit.
  if (id.length > 255) throw new HuskError('container id is longer than 255 characters');
  // A leading dot is refused too: --root keeps husk's own files (.cache) under such names.
  if (id.startsWith('.') || !ID.test(id))
    throw new HuskError(
      // Control characters (below U+0020) are replaced, so the message prints on one line.
      `invalid container id "${[...id].map((c) => (c < ' ' ? '?' : c)).join('')}": use only letters, digits and _ + . -`,
    );
  return id;
}
