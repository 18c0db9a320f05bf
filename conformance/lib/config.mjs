// The bundles the checks run: a cached busybox rootfs and a default config.json (like the one
// `runc spec` writes, with terminal off and the args left to the check).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRootfs } from '../../scripts/ensure-rootfs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The shared busybox rootfs. Checks that write to their rootfs get a copy (see Env.bundle). */
export const ROOTFS = path.resolve(here, '..', '.rootfs');

export function ensureSharedRootfs() {
  return ensureRootfs(ROOTFS);
}

/** Makes the shared rootfs anew, so that a runtime that wrote to it in an earlier run leaves no trace. */
export function freshSharedRootfs() {
  fs.rmSync(ROOTFS, { recursive: true, force: true });
  return ensureRootfs(ROOTFS);
}

export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/**
 * @typedef {any} Config a config.json: the checks build invalid ones on purpose, so it is not
 *   typed further than JSON
 */

/**
 * The container's config.json before a check changes it; args default to a shell command.
 * @returns {Config}
 */
export function defaultConfig({ args = ['sh', '-c', 'true'] } = {}) {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: [PATH_ENV, 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: ROOTFS, readonly: true },
    hostname: 'conformance',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/**
 * A tmpfs mount entry.
 * @param {string} destination
 * @param {string[]} [options]
 */
export const tmpfs = (destination, options) => ({
  destination,
  type: 'tmpfs',
  source: 'tmpfs',
  ...(options ? { options } : {}),
});

/** A bind mount entry. */
export const bind = (
  /** @type {string} */ source,
  /** @type {string} */ destination,
  options = ['bind'],
) => ({
  destination,
  type: 'none',
  source,
  options,
});

/** A default config whose process is `sh -c script`. */
export function shConfig(/** @type {string} */ script) {
  return defaultConfig({ args: ['sh', '-c', script] });
}

/**
 * Sets the namespace of `type` in config.linux.namespaces (value: e.g. { path }).
 * @param {Config} config
 * @param {string} type
 * @param {Record<string, unknown>} [value]
 */
export function setNamespace(config, type, value = {}) {
  withoutNamespace(config, type).linux.namespaces.push({ type, ...value });
  return config;
}

/**
 * Removes the namespace of `type` from config.linux.namespaces.
 * @param {Config} config
 * @param {string} type
 */
export function withoutNamespace(config, type) {
  config.linux.namespaces = config.linux.namespaces.filter(
    (/** @type {{ type: string }} */ n) => n.type !== type,
  );
  return config;
}

export function readJSON(/** @type {string} */ p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}
