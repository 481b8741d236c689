// JavaScript <-> native for capture(): option parsing, result conversion, errors shaped like
// Node's SystemError, and the async variant that runs off the JS thread.
#include <cstring>
#include <string>

#include "binding/exports.h"
#include "binding/convert.h"
#include "capture/capture.h"

namespace stackshot {

namespace {

CaptureMode parse_mode(const Napi::Value& v) {
  const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "auto";
  if (name == "ptrace") return CaptureMode::kPtrace;
  if (name == "blocked") return CaptureMode::kBlocked;
  if (name == "perf") return CaptureMode::kPerf;
  return CaptureMode::kAuto;
}

const char* path_name(CapturePath p) {
  switch (p) {
    case CapturePath::kPtrace: return "ptrace";
    case CapturePath::kBlocked: return "blocked";
    case CapturePath::kPerf: return "perf";
  }
  return "ptrace";
}

CaptureOptions parse_options(const Napi::Value& value) {
  CaptureOptions options;
  if (!value.IsObject()) return options;
  Napi::Object o = value.As<Napi::Object>();
  Napi::Value tids = o.Get("tids");
  if (tids.IsArray()) {
    Napi::Array a = tids.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) options.tids.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  options.consistent = o.Get("consistent").ToBoolean();
  options.force_proc_mem = o.Get("forceProcMem").ToBoolean();
  options.only_running = o.Get("onlyRunning").ToBoolean();
  Napi::Value elsewhere = o.Get("sampledElsewhere");
  if (elsewhere.IsArray()) {
    Napi::Array a = elsewhere.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i)
      options.sampled_elsewhere.push_back(a.Get(i).As<Napi::Number>().Int32Value());
  }
  options.stack_bytes = static_cast<size_t>(number_option(o, "stackBytes", 512 * 1024));
  options.stop_timeout_ns = number_option(o, "stopTimeoutMs", 1000) * 1000000;
  options.mode = parse_mode(o.Get("capture"));
  options.test_copy_delay_ns = number_option(o, "testCopyDelayUs", 0) * 1000;
  return options;
}

const char* status_name(ThreadStatus s) {
  switch (s) {
    case ThreadStatus::kCaptured: return "captured";
    case ThreadStatus::kExited: return "exited";
    case ThreadStatus::kTimedOut: return "timeout";
    case ThreadStatus::kFailed: return "failed";
  }
  return "failed";
}

Napi::Object thread_to_js(Napi::Env env, PropertyNames& k, const ThreadCapture& t,
                          const std::shared_ptr<ArenaLease>& arena) {
  Napi::Object o = Napi::Object::New(env);
  o.Set(k("tid"), t.tid);
  o.Set(k("name"), t.name);
  o.Set(k("state"), std::string(1, t.state));
  o.Set(k("status"), status_name(t.status));
  o.Set(k("errno"), t.err);
  o.Set(k("syscall"), t.syscall);
  o.Set(k("reinjectedSignal"), t.reinjected_signal);
  o.Set(k("pauseNs"), Napi::Number::New(env, static_cast<double>(t.pause_ns)));
  o.Set(k("capture"), path_name(t.path));
  o.Set(k("captureFallback"), t.fallback);
  set_registers(env, k, o, t.regs);
  o.Set(k("stackBytes"), Napi::Number::New(env, static_cast<double>(t.stack_size)));
  o.Set(k("stackLimited"), Napi::Boolean::New(env, t.stack_limited));
  o.Set(k("tracerPid"), Napi::Number::New(env, t.tracer_pid));
  auto holes = Napi::Uint32Array::New(env, t.holes.size() * 2);
  for (size_t i = 0; i < t.holes.size(); ++i) {
    holes[i * 2] = t.holes[i].offset;
    holes[i * 2 + 1] = t.holes[i].length;
  }
  o.Set(k("stackHoles"), holes);
  o.Set(k("stack"),
        Napi::Buffer<uint8_t>::Copy(env, t.stack_size > 0 ? (*arena)->at(t.stack_offset) : nullptr, t.stack_size));
  return o;
}

Napi::Object result_to_js(Napi::Env env, const CaptureResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", r.pid);
  o.Set("maps", r.maps);
  Napi::Array threads = Napi::Array::New(env, r.threads.size());
  PropertyNames k(env);
  for (size_t i = 0; i < r.threads.size(); ++i)
    threads.Set(static_cast<uint32_t>(i), thread_to_js(env, k, r.threads[i], r.arena));
  o.Set("threads", threads);
  o.Set("captureNs", Napi::Number::New(env, static_cast<double>(r.capture_ns)));
  o.Set("totalNs", Napi::Number::New(env, static_cast<double>(r.total_ns)));
  o.Set("bytesCopied", Napi::Number::New(env, static_cast<double>(r.bytes_copied)));
  o.Set("execDuringCapture", Napi::Boolean::New(env, r.exec_during_capture));
  o.Set("perfRefused", r.perf_refused == 0 ? "" : errno_name(r.perf_refused));
  if (r.leader_start_time != 0) o.Set("leaderStartTime", std::to_string(r.leader_start_time));
  o.Set("liveThreads", Napi::Number::New(env, r.live_threads));
  return o;
}

Napi::Error error_to_js(Napi::Env env, const CaptureError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("code", errno_name(e.err));
  err.Set("syscall", e.syscall);
  return err;
}

bool parse_pid(const Napi::CallbackInfo& info, pid_t* pid) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "capture(pid: number, options)").ThrowAsJavaScriptException();
    return false;
  }
  *pid = info[0].As<Napi::Number>().Int32Value();
  return true;
}

class CaptureWorker : public Napi::AsyncWorker {
 public:
  CaptureWorker(Napi::Env env, pid_t pid, CaptureOptions options)
      : Napi::AsyncWorker(env, "stackshot.capture"),
        deferred_(Napi::Promise::Deferred::New(env)),
        pid_(pid),
        options_(std::move(options)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = capture_process(pid_, options_);
    } catch (const CaptureError& e) {
      error_ = std::make_unique<CaptureError>(e);
    } catch (const std::exception& e) {
      error_ = std::make_unique<CaptureError>(EIO, "capture", e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (error_) {
      deferred_.Reject(error_to_js(env, *error_).Value());
    } else {
      deferred_.Resolve(result_to_js(env, result_));
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  pid_t pid_;
  CaptureOptions options_;
  CaptureResult result_;
  std::unique_ptr<CaptureError> error_;
};

}  // namespace

Napi::Value CaptureSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid;
  if (!parse_pid(info, &pid)) return env.Null();
  try {
    return result_to_js(env, capture_process(pid, parse_options(info[1])));
  } catch (const CaptureError& e) {
    error_to_js(env, e).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    error_to_js(env, CaptureError(EIO, "capture", e.what())).ThrowAsJavaScriptException();
  }
  return env.Null();
}

Napi::Value CaptureAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid;
  if (!parse_pid(info, &pid)) return env.Null();
  auto* worker = new CaptureWorker(env, pid, parse_options(info[1]));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace stackshot
