// stackshot: the call stack of every thread of a running Linux process.
export { snapshot, snapshotSync } from './snapshot';
export { StackshotError, type ErrorReason } from './errors';
export { InvalidOptionError } from './options';
export type {
  EndReason,
  Frame,
  FrameMethod,
  Schedule,
  Snapshot,
  SnapshotCost,
  SnapshotOptions,
  ThreadFailure,
  ThreadStack,
} from './types';
