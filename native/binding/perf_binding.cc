// JavaScript <-> native for perf events: record's PerfRecorder held by a JS object
// (openPerfRecorder(pid, { periodNs, stackBytes }) -> { take(), close() }), and doctor's probe.
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "binding/convert.h"
#include "binding/exports.h"
#include "capture/capture.h"
#include "capture/perf/perf_event.h"
#include "capture/perf/recorder.h"

namespace stackshot {

namespace {

Napi::Object sample_to_js(Napi::Env env, PropertyNames& k, const RecordedSample& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set(k("tid"), s.tid);
  o.Set(k("timeNs"), Napi::Number::New(env, static_cast<double>(s.time_ns)));
  o.Set(k("weightNs"), Napi::Number::New(env, static_cast<double>(s.weight_ns)));
  set_registers(env, k, o, s.regs);
  o.Set(k("stack"), Napi::Buffer<uint8_t>::Copy(env, s.stack.data(), s.stack.size()));
  o.Set(k("stackCut"), s.stack_cut);
  return o;
}

class RecorderWrap : public Napi::ObjectWrap<RecorderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PerfRecorder",
                       {InstanceMethod("take", &RecorderWrap::Take), InstanceMethod("close", &RecorderWrap::Close)});
  }

  explicit RecorderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RecorderWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "openPerfRecorder(pid: number, { periodNs, stackBytes })").ThrowAsJavaScriptException();
      return;
    }
    const pid_t pid = info[0].As<Napi::Number>().Int32Value();
    Napi::Object o = info[1].As<Napi::Object>();
    const int64_t period = number_option(o, "periodNs", 10101010);
    const int64_t stack = number_option(o, "stackBytes", kMaxSampleStack);
    try {
      recorder_ = std::make_unique<PerfRecorder>(pid, static_cast<uint64_t>(period), static_cast<uint32_t>(stack));
    } catch (const CaptureError& e) {
      Napi::Error err = Napi::Error::New(env, e.what());
      err.Set("errno", Napi::Number::New(env, e.err));
      err.Set("code", errno_name(e.err));
      err.Set("syscall", e.syscall);
      err.ThrowAsJavaScriptException();
    }
  }

 private:
  Napi::Value Take(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    RecorderBatch b = recorder_ ? recorder_->take() : RecorderBatch{};
    Napi::Array samples = Napi::Array::New(env, b.samples.size());
    PropertyNames k(env);
    for (size_t i = 0; i < b.samples.size(); ++i)
      samples.Set(static_cast<uint32_t>(i), sample_to_js(env, k, b.samples[i]));
    out.Set("samples", samples);
    Napi::Object names = Napi::Object::New(env);
    for (const auto& [tid, name] : b.names) names.Set(std::to_string(tid), name);
    out.Set("names", names);
    out.Set("lost", Napi::Number::New(env, static_cast<double>(b.lost)));
    out.Set("targetGone", b.target_gone);
    Napi::Array covered = Napi::Array::New(env, b.covered.size());
    for (size_t i = 0; i < b.covered.size(); ++i) covered.Set(static_cast<uint32_t>(i), b.covered[i]);
    out.Set("covered", covered);
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (recorder_) recorder_->close();
    recorder_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<PerfRecorder> recorder_;
};

}  // namespace

Napi::Value ProbePerf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "probePerf(tid: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  // Opened disabled and closed at once: never enabled, it costs the thread nothing.
  PerfEventSpec spec;
  spec.tid = info[0].As<Napi::Number>().Int32Value();
  spec.period_ns = 10000000;
  spec.start_disabled = true;
  int fd = open_thread_clock(spec);
  if (fd < 0) return Napi::String::New(env, errno_name(-fd));
  close(fd);
  return Napi::String::New(env, "");
}

Napi::Value OpenPerfRecorder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::FunctionReference* ctor = env.GetInstanceData<Napi::FunctionReference>();
  if (ctor == nullptr) {
    ctor = new Napi::FunctionReference(Napi::Persistent(RecorderWrap::Define(env)));
    env.SetInstanceData(ctor);
  }
  std::vector<napi_value> args(info.Length());
  for (size_t i = 0; i < info.Length(); ++i) args[i] = info[i];
  return ctor->New(args);
}

}  // namespace stackshot
