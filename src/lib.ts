// In-process API: the same runtime the CLI uses, over the same state directory.
export * from './runtime';
export { HuskError } from './errors';
export { buildPlan } from './plan';
export { probeHost } from './host/probe';
export { parseConfig, loadConfig } from './spec/load';
export type { Spec, State } from './spec/types';
