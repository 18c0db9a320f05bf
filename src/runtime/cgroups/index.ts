// The cgroups room's one door: the rest of the runtime reaches cgroupfs, the systemd driver (and
// its D-Bus client, loaded lazily by the driver), the freezer and the stats readers only through
// these names (test/unit/architecture.test.mjs keeps it so).
export {
  applyWrites,
  applyWritesOrRestore,
  attachDevices,
  callerCanUseCgroup,
  createCgroups,
  enableSubtree,
  joinCgroups,
  missingDirs,
  primeCgroupAttach,
} from './cgroupfs';
export {
  cgroupPids,
  destroyCgroups,
  destroyCgroupsInBackground,
  isHuskParent,
  killAll,
  removeHuskParentsAtExit,
} from './cgroupfs-teardown';
export { setUnitProperties, startUnit, stopUnit, systemdDriver, systemdWorks } from './systemd-driver';
export { frozenCgroup, moveOutOfFrozen } from './frozen';
export { setFrozen, thaw } from './freezer';
export { oomKills, stats } from './stats';
