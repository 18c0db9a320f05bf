// What every runtime operation needs: the state store, the logger, the host facts.
import { Logger } from '../log';
import { Store } from '../state/store';

export interface RuntimeContext {
  store: Store;
  log: Logger;
}

export function defaultRoot(): string {
  return '/run/husk';
}

export function makeContext(opts: { root?: string; log?: Logger } = {}): RuntimeContext {
  return { store: new Store(opts.root ?? defaultRoot()), log: opts.log ?? new Logger() };
}
