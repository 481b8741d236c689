// Module entry: what the addon exports. Types of every export are declared in src/addon.ts.
#include <napi.h>

#include "arch/registers.h"
#include "binding/exports.h"

namespace stackshot {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("captureSync", Napi::Function::New(env, CaptureSync, "captureSync"));
  exports.Set("capture", Napi::Function::New(env, CaptureAsync, "capture"));
  exports.Set("demangle", Napi::Function::New(env, Demangle, "demangle"));
  exports.Set("loadCfi", Napi::Function::New(env, LoadCfi, "loadCfi"));
  exports.Set("unloadCfi", Napi::Function::New(env, UnloadCfi, "unloadCfi"));
  exports.Set("unwind", Napi::Function::New(env, UnwindThreads, "unwind"));
  exports.Set("endReasons", EndReasonNames(env));
  exports.Set("captureStatuses", CaptureStatusNames(env));
  exports.Set("capturePaths", CapturePathNames(env));
  exports.Set("buildSymbolIndex", Napi::Function::New(env, BuildSymbolIndex, "buildSymbolIndex"));
  exports.Set("checkSymbolIndex", Napi::Function::New(env, CheckSymbolIndex, "checkSymbolIndex"));
  exports.Set("symbolsWithPrefix", Napi::Function::New(env, SymbolsWithPrefix, "symbolsWithPrefix"));
  exports.Set("parsePerfMapLines", Napi::Function::New(env, ParsePerfMapLines, "parsePerfMapLines"));
  exports.Set("perfMapSegments", Napi::Function::New(env, PerfMapSegments, "perfMapSegments"));
  exports.Set("xzDecompress", Napi::Function::New(env, XzDecompress, "xzDecompress"));
  exports.Set("openMemory", Napi::Function::New(env, OpenMemory, "openMemory"));
  exports.Set("readFileRange", Napi::Function::New(env, ReadFileRange, "readFileRange"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("crc32", Napi::Function::New(env, Crc32, "crc32"));
  exports.Set("isatty", Napi::Function::New(env, IsATty, "isatty"));
  exports.Set("openPerfRecorder", Napi::Function::New(env, OpenPerfRecorder, "openPerfRecorder"));
  exports.Set("probePerf", Napi::Function::New(env, ProbePerf, "probePerf"));
  exports.Set("arch", Napi::String::New(env, arch_name()));
  return exports;
}

}  // namespace stackshot

static Napi::Object InitStackshot(Napi::Env env, Napi::Object exports) { return stackshot::Init(env, exports); }
NODE_API_MODULE(stackshot, InitStackshot)
