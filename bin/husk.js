#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
// NODE_EXTRA_CA_CERTS makes Node read certificates at start-up (~70 ms); husk makes no TLS
// connections, so the shebang drops it. The bundle is compiled with the V8 code cache that
// the build wrote beside it (scripts/bundle.mjs), which saves most of its compile time; a
// cache V8 rejects (another Node) is ignored.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const Module = require('module');

// The verbs that only read or signal a container have a cache of their own: deserializing the
// code of config validation and planning (the full cache) costs them most of a millisecond. The
// global options that take a value are src/cli/verb.ts's, known here before the bundle loads; a
// verb found wrongly only costs the other cache.
const LIGHT_VERBS = new Set(['state', 'list', 'kill', 'delete', 'start', 'pause', 'resume', 'ps', 'events']);
const VALUED_GLOBALS = new Set(['--root', '--log', '--log-format', '--criu', '--rootless']);

function verbOf(args) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('-')) return a;
    if (VALUED_GLOBALS.has(a)) i++;
  }
  return '';
}

function loadCached(file, kind = '') {
  const source = fs.readFileSync(file, 'utf8');
  const cacheFile = `${file}${kind}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  if (process.env.HUSK_WRITE_CODE_CACHE) {
    // At exit, so the functions the run compiled are in the cache too (registered first: the
    // CLI may exit before the script returns).
    process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
  }
  script.runInThisContext().call(m.exports, m.exports, (id) => m.require(id), m, file, path.dirname(file));
  return m.exports;
}

globalThis.__huskLoadCached = loadCached;
const light = LIGHT_VERBS.has(verbOf(process.argv.slice(2)));
loadCached(path.join(__dirname, '..', 'dist', 'husk.js'), light ? '.light' : '');
