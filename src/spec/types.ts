// The parts of the OCI runtime spec (config.json, state) that husk reads. The schema in
// schemas/ is the authority on shape; these types only describe what validation guarantees.
export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  ioPriority?: { class: string; priority?: number };
  scheduler?: {
    policy: string;
    nice?: number;
    priority?: number;
    flags?: string[];
    runtime?: number;
    deadline?: number;
    period?: number;
  };
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export interface Namespace {
  type: string;
  path?: string;
}

export interface Device {
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface Resources {
  devices?: DeviceRule[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    kernel?: number;
    kernelTCP?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
    checkBeforeUpdate?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    burst?: number;
    period?: number;
    realtimeRuntime?: number;
    realtimePeriod?: number;
    cpus?: string;
    mems?: string;
    idle?: number;
  };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    weightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
    throttleReadBpsDevice?: ThrottleDevice[];
    throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[];
    throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  unified?: Record<string, string>;
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: {
    names: string[];
    action: string;
    errnoRet?: number;
    args?: { index: number; value: number; valueTwo?: number; op: string }[];
  }[];
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
  devices?: Device[];
  cgroupsPath?: string;
  resources?: Resources;
  rootfsPropagation?: string;
  seccomp?: Seccomp;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  personality?: { domain: string; flags?: string[] };
}

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

export type Status = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

export interface State {
  ociVersion: string;
  id: string;
  status: Status;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
