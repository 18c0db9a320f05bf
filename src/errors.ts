// One error type for everything the user should read: a message that names the file, the JSON
// path or the step, and the exit code the CLI should use.
export class HuskError extends Error {
  constructor(
    message: string,
    public readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'HuskError';
  }
}

// Thrown by a verb that cannot do its work for this caller in this process (under the husk
// server: a terminal relayed through husk itself), before it has changed anything.
export class NotHere extends Error {}

export function errnoText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
