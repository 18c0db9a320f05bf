import { createVerb } from './create';
import { checkpointVerb, restoreVerb } from './criu';
import { execVerb } from './exec';
import { eventsVerb, featuresVerb, pauseVerb, psVerb, resumeVerb } from './more';
import { runVerb } from './run';
import { deleteVerb, killVerb, listVerb, startVerb, stateVerb } from './simple';
import { serverVerb } from './server';
import { specVerb } from './spec';
import { updateVerb } from './update';
import type { Verb } from './verb';

export type { GlobalArgs } from './verb';

export const VERBS: Verb<never>[] = [
  createVerb,
  startVerb,
  stateVerb,
  killVerb,
  deleteVerb,
  runVerb,
  execVerb,
  pauseVerb,
  resumeVerb,
  psVerb,
  featuresVerb,
  updateVerb,
  eventsVerb,
  listVerb,
  specVerb,
  checkpointVerb,
  restoreVerb,
  serverVerb,
] as Verb<never>[];
