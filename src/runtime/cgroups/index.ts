// The cgroups room's one door: the rest of the runtime reaches cgroupfs, the systemd driver (and
// its D-Bus client, loaded lazily by the driver), the freezer and the stats readers only through
// these names (test/unit/architecture.test.mjs keeps it so).
export {
  applyWrites,
  applyWritesOrRestore,
  attachDevices,
  callerCanUseCgroup,
  cgroupPids,
  createCgroups,
  destroyCgroups,
  destroyCgroupsInBackground,
  enableSubtree,
  isHuskParent,
  joinCgroups,
  killAll,
  missingDirs,
  primeCgroupAttach,
  removeHuskParentsAtExit,
} from './cgroupfs';
export { setUnitProperties, startUnit, stopUnit, systemdDriver, systemdWorks } from './systemd-driver';
export { frozenCgroup, moveOutOfFrozen } from './frozen';
export { pause, resume } from './freezer';
export { blkioStats, hugetlbStats } from './stats-blkio-hugetlb';
