// What create and restore both write first: the container's record before its init has a pid,
// and the OCI state its hooks are given.
import { SPEC_VERSION } from '../spec/load';
import type { Spec, State, Status } from '../spec/types';
import type { ContainerRecord } from '../state/store';

export function newRecord(id: string, bundle: string, rootfs: string, spec: Spec): ContainerRecord {
  return {
    ociVersion: SPEC_VERSION,
    id,
    pid: 0,
    startTime: '',
    bundle,
    rootfs,
    created: new Date().toISOString(),
    owner: '',
    annotations: spec.annotations,
    cgroupDirs: [],
    freezerDir: null,
    namespaces: Object.fromEntries((spec.linux?.namespaces ?? []).map((n) => [n.type, n.path ?? ''])),
    config: 'config.json',
  };
}

export function hookState(id: string, bundle: string, spec: Spec, status: Status, pid: number): State {
  return {
    ociVersion: SPEC_VERSION,
    id,
    status,
    pid,
    bundle,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
}
