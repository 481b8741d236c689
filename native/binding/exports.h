// The functions the addon exports to JavaScript.
#pragma once
#include <napi.h>

namespace stackshot {

Napi::Value CaptureSync(const Napi::CallbackInfo& info);
Napi::Value CaptureAsync(const Napi::CallbackInfo& info);
Napi::Value Demangle(const Napi::CallbackInfo& info);
Napi::Value LoadCfi(const Napi::CallbackInfo& info);
Napi::Value UnloadCfi(const Napi::CallbackInfo& info);
Napi::Value UnwindThreads(const Napi::CallbackInfo& info);
// Every end reason unwind() may report, in the unwinder's order (checked against src/types.ts).
Napi::Array EndReasonNames(Napi::Env env);
// The names of ThreadStatus and CapturePath, in the order capture() numbers them.
Napi::Array CaptureStatusNames(Napi::Env env);
Napi::Array CapturePathNames(Napi::Env env);
Napi::Value BuildSymbolIndex(const Napi::CallbackInfo& info);
Napi::Value CheckSymbolIndex(const Napi::CallbackInfo& info);
Napi::Value SymbolsWithPrefix(const Napi::CallbackInfo& info);
Napi::Value ParsePerfMapLines(const Napi::CallbackInfo& info);
Napi::Value PerfMapSegments(const Napi::CallbackInfo& info);
Napi::Value XzDecompress(const Napi::CallbackInfo& info);
Napi::Value ReadFileRange(const Napi::CallbackInfo& info);
Napi::Value MapFile(const Napi::CallbackInfo& info);
Napi::Value Crc32(const Napi::CallbackInfo& info);
Napi::Value IsATty(const Napi::CallbackInfo& info);
Napi::Value OpenMemory(const Napi::CallbackInfo& info);
Napi::Value OpenPerfRecorder(const Napi::CallbackInfo& info);
Napi::Value ProbePerf(const Napi::CallbackInfo& info);

}  // namespace stackshot
