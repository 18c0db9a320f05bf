import { createVerb } from './create';
import { execVerb } from './exec';
import { runVerb } from './run';
import { deleteVerb, killVerb, listVerb, startVerb, stateVerb } from './simple';
import { specVerb } from './spec';
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
  listVerb,
  specVerb,
] as Verb<never>[];
