export { launch, syncTimeoutMs, type LaunchRequest, type Launched, type StageHandlers } from './handshake';
export { syncIo, type SyncIo } from './channel';
export { describeFailure } from './failure';
export { stageTable, type Step } from './stages';
