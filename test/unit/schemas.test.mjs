// husk's own OCI runtime-spec v1.3.0 schemas (schemas/*.schema.json) and the standalone validators
// generated from them (src/spec/generated/validators.js). Every check runs twice: once through the
// generated code and once through Ajv compiling the schemas now (in strict mode). The spec's own
// draft-04 schemas and fixtures in ../shared are the yardstick; no root needed, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { generate, loadSchemas, EXPORTS, SCHEMA_DIR, OUT_DIR } from '../../scripts/gen-validators.mjs';

const require = createRequire(import.meta.url);
const Ajv = require('ajv').default;
const Ajv04 = require('ajv-draft-04');

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const sharedDir = path.join(repoRoot, '..', 'shared');
const referenceDir = path.join(sharedDir, 'reference', 'runtime-spec-v1.3.0', 'schema');
const fixturesDir = path.join(sharedDir, 'fixtures');
const skipShared = fs.existsSync(sharedDir)
  ? false
  : `${sharedDir} is missing, so the fixture tests are skipped`;

const BASE = 'https://husk.dev/schemas/';
const KINDS = ['config', 'state', 'features'];
const fnName = (kind) => `validate${kind[0].toUpperCase()}${kind.slice(1)}`;

// --- the validators under test ----------------------------------------------------------------

const generatedFile = path.join(OUT_DIR, 'validators.js');
function loadGenerated() {
  if (!fs.existsSync(generatedFile)) {
    const fail = () => {
      throw new Error(
        `${path.relative(repoRoot, generatedFile)} is missing; run: node scripts/gen-validators.mjs`,
      );
    };
    return Object.fromEntries(KINDS.map((k) => [fnName(k), fail]));
  }
  return require(generatedFile);
}

function compileNow() {
  // Strict mode (plus strictTypes/strictTuples) rejects unknown keywords and type-less keywords.
  const ajv = new Ajv({ allErrors: false, strictTypes: true, strictTuples: true });
  for (const schema of loadSchemas()) ajv.addSchema(schema);
  return Object.fromEntries(KINDS.map((k) => [fnName(k), ajv.getSchema(`${BASE}${k}.schema.json`)]));
}

const SETS = [
  ['generated', loadGenerated()],
  ['ajv', compileNow()],
];

// --- the spec's reference schemas (draft-04, cross-file $ref) ----------------------------------

let reference;
function referenceValidators() {
  if (reference) return reference;
  const ajv = new Ajv04({ allErrors: false, strict: false });
  for (const file of fs.readdirSync(referenceDir).sort()) {
    if (!file.endsWith('.json')) continue;
    // defs.json has "#definitions/uint32" (missing '/'), which no resolver accepts; mend it here.
    const text = fs
      .readFileSync(path.join(referenceDir, file), 'utf8')
      .replaceAll('"#definitions/', '"#/definitions/');
    ajv.addSchema(JSON.parse(text), file);
  }
  reference = {
    config: ajv.getSchema('config-schema.json'),
    state: ajv.getSchema('state-schema.json'),
    features: ajv.getSchema('features-schema.json'),
  };
  return reference;
}

/** Parses a fixture; unparseable JSON counts as rejected (returns undefined). */
function readFixture(file) {
  try {
    return { data: JSON.parse(fs.readFileSync(file, 'utf8')) };
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}

function verdict(validate, fixture) {
  return fixture !== undefined && validate(fixture.data) === true;
}

function explain(validate) {
  return JSON.stringify(validate.errors ?? null);
}

const clone = (v) => structuredClone(v);

// --- the schemas themselves -------------------------------------------------------------------

test('each schema file is draft-07 with a husk $id matching its file name', () => {
  const files = fs.readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'));
  for (const kind of KINDS)
    assert.ok(files.includes(`${kind}.schema.json`), `schemas/${kind}.schema.json exists`);
  for (const file of files) {
    const schema = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), 'utf8'));
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#', file);
    assert.equal(schema.$id, `${BASE}${file}`, file);
    assert.equal(typeof schema.description, 'string', `${file} has a description`);
  }
});

test('the schemas compile in Ajv strict mode (strictTypes, strictTuples)', () => {
  const { validateConfig, validateState, validateFeatures } = compileNow();
  for (const fn of [validateConfig, validateState, validateFeatures]) assert.equal(typeof fn, 'function');
});

// --- the generated module ---------------------------------------------------------------------

test('src/spec/generated is up to date with schemas/ and generation is deterministic', () => {
  const first = generate();
  const second = generate();
  assert.deepEqual(first, second, 'two runs give the same bytes');
  for (const [name, text] of Object.entries(first)) {
    const file = path.join(OUT_DIR, name);
    assert.ok(fs.existsSync(file), `${file} exists (run: node scripts/gen-validators.mjs)`);
    assert.ok(
      fs.readFileSync(file, 'utf8') === text,
      `${name} is stale; run: node scripts/gen-validators.mjs`,
    );
  }
});

test('validators.js is self-contained CommonJS: it runs without require and without Ajv', () => {
  const source = fs.readFileSync(generatedFile, 'utf8');
  assert.doesNotMatch(source, /\brequire\(/);
  const sandbox = { exports: {} };
  sandbox.module = { exports: sandbox.exports };
  vm.runInNewContext(source, sandbox, { filename: generatedFile });
  assert.deepEqual(Object.keys(sandbox.exports).sort(), Object.keys(EXPORTS).sort());
  const { validateConfig, validateState } = sandbox.exports;
  assert.equal(validateConfig({ ociVersion: '1.3.0', root: { path: 'rootfs' } }), true);
  assert.equal(validateConfig({ ociVersion: '1.3.0' }), false);
  assert.equal(validateConfig.errors[0].keyword, 'required');
  assert.equal(validateState({ ociVersion: '1.3.0', id: 'a', status: 'stopped', bundle: '/b' }), true);
});

test('validators.d.ts declares the three validators with the ValidateFn type', () => {
  const dts = fs.readFileSync(path.join(OUT_DIR, 'validators.d.ts'), 'utf8');
  assert.match(dts, /export type ValidateFn = \(\(data: unknown\) => boolean\) & \{/);
  for (const name of Object.keys(EXPORTS)) assert.match(dts, new RegExp(`export const ${name}: ValidateFn;`));
});

// --- the spec's fixtures, cross-checked with the spec's schemas --------------------------------

for (const [setName, validators] of SETS) {
  for (const kind of KINDS) {
    test(
      `${setName}: ${kind} fixtures of runtime-spec v1.3.0 (good accepted, bad rejected, same verdict as the reference schema)`,
      { skip: skipShared },
      async (t) => {
        const validate = validators[fnName(kind)];
        const ref = referenceValidators()[kind];
        for (const expected of ['good', 'bad']) {
          const dir = path.join(referenceDir, 'test', kind, expected);
          const files = fs.readdirSync(dir).sort();
          assert.ok(files.length > 0, `${dir} has fixtures`);
          for (const file of files) {
            await t.test(`${expected}/${file}`, () => {
              const fixture = readFixture(path.join(dir, file));
              const ours = verdict(validate, fixture);
              assert.equal(ours, expected === 'good', `${kind}/${expected}/${file}: ${explain(validate)}`);
              assert.equal(
                ours,
                verdict(ref, fixture),
                `${kind}/${expected}/${file}: same verdict as the reference`,
              );
            });
          }
        }
      },
    );
  }

  test(
    `${setName}: config.json files written by real engines are accepted (and by the reference)`,
    { skip: skipShared },
    async (t) => {
      const dir = path.join(fixturesDir, 'configs');
      const files = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort();
      assert.ok(files.length >= 5, `${dir} has the engine configs`);
      for (const file of files) {
        await t.test(file, () => {
          const fixture = readFixture(path.join(dir, file));
          assert.equal(
            verdict(validators.validateConfig, fixture),
            true,
            `${file}: ${explain(validators.validateConfig)}`,
          );
          assert.equal(verdict(referenceValidators().config, fixture), true, `${file}: reference agrees`);
        });
      }
    },
  );

  test(
    `${setName}: runc 1.1.5 features output is accepted (and by the reference)`,
    { skip: skipShared },
    () => {
      const fixture = readFixture(path.join(fixturesDir, 'runc-1.1.5-features.json'));
      assert.equal(verdict(validators.validateFeatures, fixture), true, explain(validators.validateFeatures));
      assert.equal(verdict(referenceValidators().features, fixture), true);
    },
  );
}

// --- hand-written configs -----------------------------------------------------------------------

const BASE_CONFIG = {
  ociVersion: '1.3.0',
  root: { path: 'rootfs' },
  process: {
    cwd: '/',
    args: ['sh'],
    user: { uid: 0, gid: 0 },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }],
  },
  mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
  hooks: { poststart: [{ path: '/usr/bin/notify' }] },
  annotations: { 'org.example.key': 'value' },
  linux: {
    namespaces: [{ type: 'pid' }, { type: 'mount' }],
    uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }],
    resources: {
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 536870912, swap: -1 },
      pids: { limit: 1024 },
      blockIO: {
        weightDevice: [{ major: 8, minor: 0, weight: 500 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 600 }],
      },
      rdma: { mlx5_0: { hcaHandles: 3 } },
      unified: { 'memory.high': '1G' },
    },
    sysctl: { 'net.ipv4.ip_forward': '1' },
    seccomp: {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      ],
    },
    maskedPaths: ['/proc/kcore'],
    readonlyPaths: ['/proc/sys'],
  },
};

// [what, mutate(config), instancePath of the first error, its keyword]
const BAD_CONFIGS = [
  ['ociVersion missing', (c) => delete c.ociVersion, '', 'required'],
  ['ociVersion not SemVer', (c) => (c.ociVersion = 'v1.0'), '/ociVersion', 'pattern'],
  ['root missing on a POSIX config', (c) => delete c.root, '', 'required'],
  ['root without path', (c) => (c.root = { readonly: true }), '/root', 'required'],
  ['process.args not an array', (c) => (c.process.args = 'sh'), '/process/args', 'type'],
  ['process.args empty on POSIX', (c) => (c.process.args = []), '/process/args', 'minItems'],
  ['process.args holds a number', (c) => (c.process.args = ['sh', 1]), '/process/args/1', 'type'],
  ['process.cwd missing', (c) => delete c.process.cwd, '/process', 'required'],
  ['process.cwd relative on POSIX', (c) => (c.process.cwd = 'tmp'), '/process/cwd', 'pattern'],
  ['process.user without gid', (c) => delete c.process.user.gid, '/process/user', 'required'],
  ['process.user.uid above uint32', (c) => (c.process.user.uid = 4294967296), '/process/user/uid', 'maximum'],
  ['rlimit soft as a string', (c) => (c.process.rlimits[0].soft = '1024'), '/process/rlimits/0/soft', 'type'],
  [
    'rlimit type not RLIMIT_*',
    (c) => (c.process.rlimits[0].type = 'NOFILE'),
    '/process/rlimits/0/type',
    'pattern',
  ],
  ['rlimit without hard', (c) => delete c.process.rlimits[0].hard, '/process/rlimits/0', 'required'],
  [
    'capabilities set not an array',
    (c) => (c.process.capabilities = { bounding: 'CAP_KILL' }),
    '/process/capabilities/bounding',
    'type',
  ],
  [
    'consoleSize without width',
    (c) => (c.process.consoleSize = { height: 24 }),
    '/process/consoleSize',
    'required',
  ],
  [
    'scheduler policy unknown',
    (c) => (c.process.scheduler = { policy: 'SCHED_FAST' }),
    '/process/scheduler/policy',
    'enum',
  ],
  [
    'ioPriority class unknown',
    (c) => (c.process.ioPriority = { class: 'IOPRIO_CLASS_X' }),
    '/process/ioPriority/class',
    'enum',
  ],
  [
    'execCPUAffinity not a cpu list',
    (c) => (c.process.execCPUAffinity = { initial: 'all' }),
    '/process/execCPUAffinity/initial',
    'pattern',
  ],
  [
    'mount without destination',
    (c) => c.mounts.push({ source: '/srv', type: 'bind' }),
    '/mounts/1',
    'required',
  ],
  ['mount option not a string', (c) => (c.mounts[0].options = ['ro', 1]), '/mounts/0/options/1', 'type'],
  [
    'mount idmap entry without hostID',
    (c) => (c.mounts[0].uidMappings = [{ containerID: 0, size: 1 }]),
    '/mounts/0/uidMappings/0',
    'required',
  ],
  ['hook path relative', (c) => (c.hooks.poststart[0].path = 'notify'), '/hooks/poststart/0/path', 'pattern'],
  ['hook timeout zero', (c) => (c.hooks.poststart[0].timeout = 0), '/hooks/poststart/0/timeout', 'minimum'],
  [
    'annotation value not a string',
    (c) => (c.annotations['org.example.n'] = 1),
    '/annotations/org.example.n',
    'type',
  ],
  ['annotation with an empty key', (c) => (c.annotations[''] = 'x'), '/annotations', 'pattern'],
  ['hostname not a string', (c) => (c.hostname = 7), '/hostname', 'type'],
  [
    'namespace type "foo"',
    (c) => c.linux.namespaces.push({ type: 'foo' }),
    '/linux/namespaces/2/type',
    'enum',
  ],
  [
    'namespace without type',
    (c) => c.linux.namespaces.push({ path: '/proc/1/ns/net' }),
    '/linux/namespaces/2',
    'required',
  ],
  [
    'namespace path relative',
    (c) => c.linux.namespaces.push({ type: 'network', path: 'netns' }),
    '/linux/namespaces/2/path',
    'pattern',
  ],
  [
    'uidMappings entry missing size',
    (c) => delete c.linux.uidMappings[0].size,
    '/linux/uidMappings/0',
    'required',
  ],
  ['gidMappings not an array', (c) => (c.linux.gidMappings = {}), '/linux/gidMappings', 'type'],
  ['device type unknown', (c) => (c.linux.devices[0].type = 'x'), '/linux/devices/0/type', 'enum'],
  ['char device without minor', (c) => delete c.linux.devices[0].minor, '/linux/devices/0', 'required'],
  ['device without path', (c) => delete c.linux.devices[0].path, '/linux/devices/0', 'required'],
  [
    'device rule without allow',
    (c) => delete c.linux.resources.devices[0].allow,
    '/linux/resources/devices/0',
    'required',
  ],
  [
    'device rule access "rwx"',
    (c) => (c.linux.resources.devices[0].access = 'rwx'),
    '/linux/resources/devices/0/access',
    'pattern',
  ],
  [
    'device rule type "u"',
    (c) => (c.linux.resources.devices[0].type = 'u'),
    '/linux/resources/devices/0/type',
    'enum',
  ],
  [
    'memory limit not an integer',
    (c) => (c.linux.resources.memory.limit = 1.5),
    '/linux/resources/memory/limit',
    'type',
  ],
  [
    'cpu shares negative',
    (c) => (c.linux.resources.cpu = { shares: -1 }),
    '/linux/resources/cpu/shares',
    'minimum',
  ],
  ['pids without limit', (c) => (c.linux.resources.pids = {}), '/linux/resources/pids', 'required'],
  [
    'weightDevice with neither weight',
    (c) => delete c.linux.resources.blockIO.weightDevice[0].weight,
    '/linux/resources/blockIO/weightDevice/0',
    'required',
  ],
  [
    'throttle device without rate',
    (c) => delete c.linux.resources.blockIO.throttleReadBpsDevice[0].rate,
    '/linux/resources/blockIO/throttleReadBpsDevice/0',
    'required',
  ],
  [
    'blockIO weight above uint16',
    (c) => (c.linux.resources.blockIO.weight = 70000),
    '/linux/resources/blockIO/weight',
    'maximum',
  ],
  [
    'hugepage size "64kB"',
    (c) => (c.linux.resources.hugepageLimits = [{ pageSize: '64kB', limit: 1 }]),
    '/linux/resources/hugepageLimits/0/pageSize',
    'pattern',
  ],
  [
    'network priority without name',
    (c) => (c.linux.resources.network = { priorities: [{ priority: 1 }] }),
    '/linux/resources/network/priorities/0',
    'required',
  ],
  [
    'rdma entry with no limit',
    (c) => (c.linux.resources.rdma.mlx5_0 = {}),
    '/linux/resources/rdma/mlx5_0',
    'required',
  ],
  [
    'unified value not a string',
    (c) => (c.linux.resources.unified['memory.max'] = 1024),
    '/linux/resources/unified/memory.max',
    'type',
  ],
  [
    'sysctl value not a string',
    (c) => (c.linux.sysctl['net.ipv4.ip_forward'] = 1),
    '/linux/sysctl/net.ipv4.ip_forward',
    'type',
  ],
  [
    'seccomp action "SCMP_ACT_FOO"',
    (c) => (c.linux.seccomp.syscalls[0].action = 'SCMP_ACT_FOO'),
    '/linux/seccomp/syscalls/0/action',
    'enum',
  ],
  [
    'seccomp without defaultAction',
    (c) => delete c.linux.seccomp.defaultAction,
    '/linux/seccomp',
    'required',
  ],
  [
    'seccomp defaultAction unknown',
    (c) => (c.linux.seccomp.defaultAction = 'SCMP_ACT_DENY'),
    '/linux/seccomp/defaultAction',
    'enum',
  ],
  [
    'seccomp arch unknown',
    (c) => (c.linux.seccomp.architectures = ['SCMP_ARCH_Z80']),
    '/linux/seccomp/architectures/0',
    'enum',
  ],
  [
    'seccomp flag unknown',
    (c) => (c.linux.seccomp.flags = ['SECCOMP_FILTER_FLAG_NEW_LISTENER']),
    '/linux/seccomp/flags/0',
    'enum',
  ],
  [
    'seccomp operator unknown',
    (c) => (c.linux.seccomp.syscalls[0].args[0].op = 'SCMP_CMP_IN'),
    '/linux/seccomp/syscalls/0/args/0/op',
    'enum',
  ],
  [
    'seccomp arg without value',
    (c) => delete c.linux.seccomp.syscalls[0].args[0].value,
    '/linux/seccomp/syscalls/0/args/0',
    'required',
  ],
  [
    'seccomp rule with no names',
    (c) => (c.linux.seccomp.syscalls[0].names = []),
    '/linux/seccomp/syscalls/0/names',
    'minItems',
  ],
  [
    'errnoRet on an ALLOW rule',
    (c) => (c.linux.seccomp.syscalls[0].errnoRet = 1),
    '/linux/seccomp/syscalls/0/action',
    'enum',
  ],
  [
    'defaultErrnoRet with a KILL default',
    (c) => (c.linux.seccomp.defaultAction = 'SCMP_ACT_KILL'),
    '/linux/seccomp/defaultAction',
    'enum',
  ],
  [
    'rootfsPropagation "rshared"',
    (c) => (c.linux.rootfsPropagation = 'rshared'),
    '/linux/rootfsPropagation',
    'enum',
  ],
  [
    'maskedPaths entry relative',
    (c) => (c.linux.maskedPaths = ['proc/kcore']),
    '/linux/maskedPaths/0',
    'pattern',
  ],
  [
    'readonlyPaths not an array',
    (c) => (c.linux.readonlyPaths = '/proc/sys'),
    '/linux/readonlyPaths',
    'type',
  ],
  [
    'intelRdt memBwSchema without MB:',
    (c) => (c.linux.intelRdt = { memBwSchema: 'L3:0=f' }),
    '/linux/intelRdt/memBwSchema',
    'pattern',
  ],
  [
    'personality domain unknown',
    (c) => (c.linux.personality = { domain: 'BSD' }),
    '/linux/personality/domain',
    'enum',
  ],
  [
    'personality without domain',
    (c) => (c.linux.personality = { flags: [] }),
    '/linux/personality',
    'required',
  ],
  [
    'timeOffsets nanosecs negative',
    (c) => (c.linux.timeOffsets = { boottime: { secs: 1, nanosecs: -1 } }),
    '/linux/timeOffsets/boottime/nanosecs',
    'minimum',
  ],
  [
    'memoryPolicy mode unknown',
    (c) => (c.linux.memoryPolicy = { mode: 'MPOL_FAST' }),
    '/linux/memoryPolicy/mode',
    'enum',
  ],
  [
    'memoryPolicy flag unknown',
    (c) => (c.linux.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_X'] }),
    '/linux/memoryPolicy/flags/0',
    'enum',
  ],
  [
    'netDevice name not a string',
    (c) => (c.linux.netDevices = { eth0: { name: 1 } }),
    '/linux/netDevices/eth0/name',
    'type',
  ],
  ['linux not an object', (c) => (c.linux = []), '/linux', 'type'],
  ['windows without layerFolders', (c) => (c.windows = {}), '/windows', 'required'],
  [
    'freebsd jail vnet "disable"',
    (c) => (c.freebsd = { jail: { vnet: 'disable' } }),
    '/freebsd/jail/vnet',
    'enum',
  ],
  ['vm without kernel', (c) => (c.vm = {}), '/vm', 'required'],
];

// Configs the schema must accept: [what, mutate(config)] applied to a copy of BASE_CONFIG.
const GOOD_CONFIGS = [
  ['the base config', () => {}],
  [
    'unknown properties anywhere (the spec requires they be ignored)',
    (c) => {
      c['org.example.future'] = { x: 1 };
      c.process.futureKnob = true;
      c.linux.futureSection = [1];
    },
  ],
  ['a FIFO device without major/minor', (c) => (c.linux.devices = [{ path: '/dev/myfifo', type: 'p' }])],
  [
    'errnoRet on an ERRNO rule and a TRACE rule',
    (c) => {
      c.linux.seccomp.syscalls.push({ names: ['open'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 });
      c.linux.seccomp.syscalls.push({ names: ['ptrace'], action: 'SCMP_ACT_TRACE', errnoRet: 1 });
    },
  ],
  [
    'every seccomp action, flag and operator',
    (c) => {
      const actions = [
        'KILL',
        'KILL_PROCESS',
        'KILL_THREAD',
        'TRAP',
        'ERRNO',
        'TRACE',
        'ALLOW',
        'LOG',
        'NOTIFY',
      ];
      const ops = ['NE', 'LT', 'LE', 'EQ', 'GE', 'GT', 'MASKED_EQ'];
      c.linux.seccomp.flags = ['TSYNC', 'LOG', 'SPEC_ALLOW', 'WAIT_KILLABLE_RECV'].map(
        (f) => `SECCOMP_FILTER_FLAG_${f}`,
      );
      c.linux.seccomp.listenerPath = '/run/seccomp.sock';
      c.linux.seccomp.listenerMetadata = 'meta';
      c.linux.seccomp.syscalls = actions.map((a, i) => ({
        names: [`sys${i}`],
        action: `SCMP_ACT_${a}`,
        args: ops.map((op, index) => ({ index, value: 1, valueTwo: 2, op: `SCMP_CMP_${op}` })),
      }));
    },
  ],
  [
    'all eight namespace types, one joined by path',
    (c) => {
      c.linux.namespaces = ['mount', 'pid', 'uts', 'ipc', 'user', 'cgroup', 'time'].map((type) => ({ type }));
      c.linux.namespaces.push({ type: 'network', path: '/var/run/netns/a' });
    },
  ],
  [
    '64-bit extremes: RLIM_INFINITY, -1 limits, int64 quota',
    (c) => {
      // 2^64-1 as a JSON reader sees it: the nearest double (what an engine's config parses to).
      c.process.rlimits[0].hard = 2 ** 64;
      c.linux.resources.memory = {
        limit: -1,
        reservation: -1,
        swap: -1,
        kernel: -1,
        kernelTCP: -1,
        swappiness: 0,
      };
      c.linux.resources.cpu = {
        quota: -1,
        period: 100000,
        shares: 0,
        cpus: '0-3',
        mems: '0',
        idle: 1,
        burst: 10,
      };
    },
  ],
  [
    'the remaining linux fields',
    (c) => {
      Object.assign(c.linux, {
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        cgroupsPath: 'system.slice:husk:abc',
        rootfsPropagation: 'unbindable',
        mountLabel: 'system_u:object_r:container_file_t:s0',
        intelRdt: {
          closID: 'g',
          l3CacheSchema: 'L3:0=7f0',
          memBwSchema: 'MB:0=20',
          schemata: ['L2:0=ff'],
          enableMonitoring: true,
        },
        personality: { domain: 'LINUX32', flags: [] },
        timeOffsets: { boottime: { secs: -5, nanosecs: 0 }, monotonic: { secs: 10, nanosecs: 999 } },
        memoryPolicy: { mode: 'MPOL_INTERLEAVE', nodes: '0-3', flags: ['MPOL_F_STATIC_NODES'] },
        netDevices: { eth1: {}, ens4: { name: 'eth0' } },
      });
      Object.assign(c.linux.resources, {
        hugepageLimits: [
          { pageSize: '2MB', limit: 0 },
          { pageSize: '1GB', limit: 1073741824 },
        ],
        network: { classID: 1048577, priorities: [{ name: 'eth0', priority: 500 }] },
      });
    },
  ],
  [
    'the remaining process fields',
    (c) => {
      Object.assign(c.process, {
        terminal: true,
        consoleSize: { height: 24, width: 80 },
        env: ['PATH=/bin'],
        apparmorProfile: 'p',
        selinuxLabel: 'l',
        noNewPrivileges: true,
        oomScoreAdj: -1000,
        capabilities: { bounding: ['CAP_KILL'], effective: [], inheritable: [], permitted: [], ambient: [] },
        scheduler: {
          policy: 'SCHED_DEADLINE',
          runtime: 1,
          deadline: 2,
          period: 3,
          flags: ['SCHED_FLAG_RECLAIM'],
        },
        ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 4 },
        execCPUAffinity: { initial: '0-1, 3', final: '2' },
      });
      c.process.user = { uid: 1000, gid: 1000, umask: 18, additionalGids: [5, 6], username: 'u' };
    },
  ],
  ['a relative mount destination (deprecated, still valid)', (c) => c.mounts.push({ destination: 'data' })],
];

for (const [setName, validators] of SETS) {
  test(`${setName}: hand-written bad configs are rejected at the right instancePath`, async (t) => {
    assert.equal(validators.validateConfig(clone(BASE_CONFIG)), true, explain(validators.validateConfig));
    for (const [what, mutate, instancePath, keyword] of BAD_CONFIGS) {
      await t.test(what, () => {
        const config = clone(BASE_CONFIG);
        mutate(config);
        const validate = validators.validateConfig;
        assert.equal(validate(config), false, `${what}: rejected`);
        const [first] = validate.errors;
        assert.equal(first.instancePath, instancePath, `${what}: ${explain(validate)}`);
        assert.equal(first.keyword, keyword, `${what}: ${explain(validate)}`);
        assert.equal(typeof first.message, 'string');
      });
    }
  });

  test(`${setName}: hand-written edge-case configs are accepted`, async (t) => {
    for (const [what, mutate] of GOOD_CONFIGS) {
      await t.test(what, () => {
        const config = clone(BASE_CONFIG);
        mutate(config);
        assert.equal(
          validators.validateConfig(config),
          true,
          `${what}: ${explain(validators.validateConfig)}`,
        );
      });
    }
  });

  test(`${setName}: Windows configs need no root and take args or commandLine`, () => {
    const { validateConfig } = validators;
    const config = {
      ociVersion: '1.3.0',
      windows: { layerFolders: ['C:\\layers\\1'], hyperv: {} },
      process: { cwd: 'C:\\', commandLine: 'cmd.exe /c dir', user: { username: 'ContainerUser' } },
    };
    assert.equal(validateConfig(config), true, explain(validateConfig));
    delete config.process.commandLine;
    assert.equal(validateConfig(config), false, 'neither args nor commandLine');
    assert.equal(validateConfig.errors[0].instancePath, '/process');
    config.process.args = ['cmd.exe'];
    assert.equal(validateConfig(config), true, explain(validateConfig));
  });

  test(`${setName}: state documents`, () => {
    const { validateState } = validators;
    const good = {
      ociVersion: '1.3.0',
      id: 'c1',
      status: 'created',
      pid: 4242,
      bundle: '/run/b',
      annotations: { a: 'b' },
    };
    assert.equal(validateState(good), true, explain(validateState));
    assert.equal(validateState({ ...good, status: 'creating', pid: undefined }), true, 'pid is optional');
    const bad = [
      [{ ...good, status: 'paused' }, '/status', 'enum'],
      [{ ...good, pid: -1 }, '/pid', 'minimum'],
      [{ ...good, id: '' }, '/id', 'pattern'],
      [{ ...good, ociVersion: '1' }, '/ociVersion', 'pattern'],
      [(({ bundle: _bundle, ...rest }) => rest)(good), '', 'required'],
    ];
    for (const [doc, instancePath, keyword] of bad) {
      assert.equal(validateState(doc), false, JSON.stringify(doc));
      assert.equal(validateState.errors[0].instancePath, instancePath, explain(validateState));
      assert.equal(validateState.errors[0].keyword, keyword, explain(validateState));
    }
  });

  test(`${setName}: features documents`, () => {
    const { validateFeatures } = validators;
    const good = {
      ociVersionMin: '1.0.0',
      ociVersionMax: '1.3.0',
      hooks: ['createRuntime'],
      potentiallyUnsafeConfigAnnotations: ['run.oci.'],
      linux: {
        namespaces: ['time'],
        capabilities: ['CAP_BPF'],
        cgroup: { v2: true, rdma: false },
        seccomp: { enabled: true, knownFlags: ['SECCOMP_FILTER_FLAG_TSYNC'], supportedFlags: [] },
        mountExtensions: { idmap: { enabled: true } },
        netDevices: { enabled: true },
        memoryPolicy: { modes: ['MPOL_BIND'], flags: ['MPOL_F_STATIC_NODES'] },
      },
    };
    assert.equal(validateFeatures(good), true, explain(validateFeatures));
    const bad = [
      [{ ...good, linux: { namespaces: ['foo'] } }, '/linux/namespaces/0', 'enum'],
      [{ ...good, linux: { capabilities: ['chown'] } }, '/linux/capabilities/0', 'pattern'],
      [{ ...good, linux: { seccomp: { actions: ['SCMP_ACT_FOO'] } } }, '/linux/seccomp/actions/0', 'enum'],
      [{ ...good, linux: { cgroup: { v2: 'yes' } } }, '/linux/cgroup/v2', 'type'],
      [{ ...good, ociVersionMin: undefined }, '', 'required'],
    ];
    for (const [doc, instancePath, keyword] of bad) {
      const data = JSON.parse(JSON.stringify(doc));
      assert.equal(validateFeatures(data), false, JSON.stringify(data));
      assert.equal(validateFeatures.errors[0].instancePath, instancePath, explain(validateFeatures));
      assert.equal(validateFeatures.errors[0].keyword, keyword, explain(validateFeatures));
    }
  });
}

test('generated and freshly compiled validators agree on every hand-written case', () => {
  const [[, gen], [, now]] = SETS;
  const cases = [
    ...BAD_CONFIGS.map(([, mutate]) => {
      const c = clone(BASE_CONFIG);
      mutate(c);
      return c;
    }),
    ...GOOD_CONFIGS.map(([, mutate]) => {
      const c = clone(BASE_CONFIG);
      mutate(c);
      return c;
    }),
  ];
  for (const data of cases) {
    assert.equal(gen.validateConfig(data), now.validateConfig(data));
    assert.deepEqual(gen.validateConfig.errors ?? null, now.validateConfig.errors ?? null);
  }
});
