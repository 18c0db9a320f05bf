// The runtime API shared by the CLI and the in-process library.
export { makeContext, defaultRoot, type RuntimeContext } from './context';
export { create, type CreateOptions } from './create';
export { start, kill, destroy, state, list, load } from './lifecycle';
export { run, exitCodeOf, type RunOptions } from './run';
