// Reads and validates config.json. Validators are ajv standalone code generated at build time
// (scripts/gen-validators.mjs), so no schema is compiled when husk starts.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../errors';
import type { Process, Spec } from './types';
import { locate } from './locate';

export const SPEC_VERSION = '1.3.0';

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

type Validator = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

type Validators = { validateConfig: Validator; validateState: Validator; validateFeatures: Validator };

declare global {
  // Set by bin/husk.js: loads a file with the V8 code cache the build wrote beside it.
  var __huskLoadCached: ((file: string) => unknown) | undefined;
}

let loaded: Validators | undefined;

// Once per process: a long-lived one (the library, the husk server) must not compile the
// validators again for every config.
function validators(): Validators {
  if (loaded) return loaded;
  const load = globalThis.__huskLoadCached;
  if (load) {
    // The bundle's loader of cached validators, when there is one.
    const file = path.join(__dirname, 'generated', 'validators.js');
    if (fs.existsSync(file)) return (loaded = load(file) as Validators);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded = require('./generated/validators.js') as Validators);
}

export function describeError(e: AjvError): { pointer: string; text: string } {
  let pointer = e.instancePath;
  let text: string;
  switch (e.keyword) {
    case 'required':
      pointer += '/' + String(e.params.missingProperty);
      text = 'is required';
      break;
    case 'type':
      text = `must be ${/^[aeiou]/.test(String(e.params.type)) ? 'an' : 'a'} ${e.params.type}`;
      break;
    case 'enum':
      text = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      break;
    case 'minItems':
      text = `must have at least ${e.params.limit} item${e.params.limit === 1 ? '' : 's'}`;
      break;
    case 'additionalProperties':
      pointer += '/' + String(e.params.additionalProperty);
      text = 'is not allowed here';
      break;
    case 'pattern':
      text = `must match ${e.params.pattern}`;
      break;
    default:
      text = e.message ?? e.keyword;
  }
  return { pointer, text };
}

export function validationMessage(file: string, text: string, errors: AjvError[]): string {
  // ajv reports the deepest error last for nested schemas; prefer errors on the longest path.
  const best = [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
  const { pointer, text: what } = describeError(best);
  const at = locate(text, best.instancePath);
  return `${file}${at ? `:${at.line}` : ''}: ${pointer || '/'}: ${what}`;
}

export function checkVersion(file: string, version: string): void {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) throw new HuskError(`${file}: /ociVersion: "${version}" is not a version`);
  if (m[1] !== '1')
    throw new HuskError(
      `${file}: /ociVersion: ${version} is not supported (husk implements ${SPEC_VERSION})`,
    );
}

// The last config text that passed: a long-lived process (the library, the husk server) runs
// the same bundle again and again, and validation is a pure function of the text.
let lastValid: string | undefined;

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? text.slice(0, Number(m[1])).split('\n').length : null;
    throw new HuskError(`${file}${line ? `:${line}` : ''}: not valid JSON: ${(e as Error).message}`);
  }
}

// What the spec leaves out and runc reads as root: a process with no user runs as uid 0, gid 0.
function withDefaults(p: Process | undefined): void {
  if (p && !p.user) p.user = { uid: 0, gid: 0 };
}

export function parseConfig(file: string, text: string): Spec {
  const spec = parseJson(file, text) as Spec;
  if (text !== lastValid) {
    const { validateConfig } = validators();
    if (!validateConfig(spec))
      throw new HuskError(validationMessage(file, text, validateConfig.errors ?? []));
    checkVersion(file, spec.ociVersion);
    lastValid = text;
  }
  withDefaults(spec.process);
  return spec;
}

// A process file (exec --process): checked with the process part of the config schema, as the
// process of a minimal config, and its errors named by the file's own line and pointer.
export function parseProcess(file: string, text: string): Process {
  const proc = parseJson(file, text);
  const { validateConfig } = validators();
  if (!validateConfig({ ociVersion: SPEC_VERSION, root: { path: '/' }, process: proc })) {
    const errors = (validateConfig.errors ?? []).map((e) => ({
      ...e,
      instancePath: e.instancePath.replace(/^\/process/, ''),
    }));
    throw new HuskError(validationMessage(file, text, errors));
  }
  withDefaults(proc as Process);
  return proc as Process;
}

export function loadConfig(bundle: string): Spec {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new HuskError(
      code === 'ENOENT'
        ? `${file}: no such file (is --bundle the bundle directory?)`
        : `${file}: ${(e as Error).message}`,
    );
  }
  return parseConfig(file, text);
}
