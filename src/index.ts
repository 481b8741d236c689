// stackshot: the call stack of every thread of a running Linux process.
export { snapshot, snapshotSync } from './snapshot';
export {
  captureToFile,
  snapshotFromFile,
  readCaptureFile,
  type SavedCapture,
  type SavedModule,
  type SaveOptions,
  type UnwindFileOptions,
} from './capture-file';
export { StackshotError, type ErrorReason } from './errors';
export { InvalidOptionError } from './options';
export { record, Recording, type RecordOptions, type RecordStats, type RecordEnd } from './record';
export { toFolded, parseFolded, type FoldedOptions } from './output/folded';
export { toSpeedscope, SPEEDSCOPE_SCHEMA, type SpeedscopeFile, type SpeedscopeOptions } from './output/speedscope';
export { toPprof, toPprofProfile, decodePprof, type PprofOptions } from './output/pprof';
export { toFlameGraph, type FlameGraphOptions } from './output/flamegraph-svg';
export {
  ProfileBuilder,
  frameName,
  sanitizeName,
  type ProfileInput,
  type ProfileOptions,
  type StateFilter,
} from './output/profile';
export { formatFromPath, type RecordFormat } from './output/formats';
export { audit, auditFiles, auditProcess } from './audit/audit';
export { explain, type ExplainOptions } from './audit/explain';
export { FP_WALKABLE_SHARE } from './audit/types';
export { PYTHON_REASONS, type PythonReason } from './runtimes/cpython/reasons';
export { SYMBOL_REASONS } from './symbolize/reasons';
export type { PythonFramesProbe } from './runtimes/cpython/probe';
export { benchmark } from './benchmark/benchmark';
export { BENCHMARK_VERSION } from './benchmark/types';
export type {
  BenchmarkOptions,
  BenchmarkReport,
  BenchMethod,
  BenchPath,
  BenchPlan,
  Distribution,
  FpLoss,
  KernelAccounting,
  MethodKind,
  MethodResult,
  NameSource,
  NamingResult,
  PathResult,
  ReferenceResult,
  ReferenceTool,
} from './benchmark/types';
export { doctor, formatDoctor, type DoctorReport, type DoctorCheck, type CheckId } from './doctor';
export type {
  AuditOptions,
  AuditReport,
  CompilerInfo,
  ExplainFrame,
  ExplainReport,
  ExplainThread,
  FramePointerStats,
  ModuleAudit,
  NodeRuntime,
  PythonRuntime,
  Verdict,
} from './audit/types';
export type {
  EndReason,
  Frame,
  FrameKind,
  FrameMethod,
  Schedule,
  Snapshot,
  SnapshotCost,
  SnapshotOptions,
  SymbolReason,
  ThreadFailure,
  ThreadStack,
} from './types';
export { SNAPSHOT_VERSION } from './types';
