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

constexpr ThreadStatus kStatuses[] = {ThreadStatus::kCaptured, ThreadStatus::kExited, ThreadStatus::kTimedOut,
                                      ThreadStatus::kFailed};
constexpr CapturePath kPaths[] = {CapturePath::kPtrace, CapturePath::kBlocked, CapturePath::kPerf};
// The registers every thread has a column of (then the raw NT_PRSTATUS words, per thread).
constexpr size_t kRegisterColumns = 5;  // pc, sp, fp, lr, pac_mask

// The names of a closed set's members, by the index capture() gives them (index_of).
template <typename T, size_t N>
Napi::Array names_of(Napi::Env env, const T (&set)[N], const char* (*name)(T)) {
  Napi::Array names = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; ++i) names.Set(static_cast<uint32_t>(i), name(set[i]));
  return names;
}

template <typename T, size_t N>
uint8_t index_of(const T (&set)[N], T value) {
  for (size_t i = 0; i < N; ++i) {
    if (set[i] == value) return static_cast<uint8_t>(i);
  }
  return 0;
}

// The threads as columns, one typed array or array each, in thread order: setting twenty
// properties on each thread's own object cost ~6 µs a thread, more than its capture; JavaScript
// builds the objects (src/addon.ts threadsOf). The stacks are one buffer, back to back.
Napi::Object threads_to_js(Napi::Env env, const CaptureResult& r) {
  const size_t n = r.threads.size();
  size_t raw_words = 0, hole_pairs = 0, stack_bytes = 0;
  for (const ThreadCapture& t : r.threads) {
    raw_words += t.regs.raw_count;
    hole_pairs += t.holes.size();
    stack_bytes += t.stack_size;
  }
  auto tid = Napi::Int32Array::New(env, n);
  auto err = Napi::Int32Array::New(env, n);
  auto tracer = Napi::Int32Array::New(env, n);
  auto reinjected = Napi::Int32Array::New(env, n);
  auto pause = Napi::Float64Array::New(env, n);
  auto status = Napi::Uint8Array::New(env, n);
  auto path = Napi::Uint8Array::New(env, n);
  auto limited = Napi::Uint8Array::New(env, n);
  auto regs = Napi::TypedArrayOf<uint64_t>::New(env, n * kRegisterColumns);
  auto raw_counts = Napi::Uint32Array::New(env, n);
  auto raw = Napi::TypedArrayOf<uint64_t>::New(env, raw_words);
  auto hole_counts = Napi::Uint32Array::New(env, n);
  auto holes = Napi::Uint32Array::New(env, hole_pairs * 2);
  auto stack_sizes = Napi::Float64Array::New(env, n);
  auto stacks = Napi::Buffer<uint8_t>::New(env, stack_bytes);
  Napi::Array names = Napi::Array::New(env, n);
  Napi::Array syscalls = Napi::Array::New(env, n);
  Napi::Array fallbacks = Napi::Array::New(env, n);
  std::string states(n, '?');
  size_t raw_at = 0, hole_at = 0, stack_at = 0;
  for (size_t i = 0; i < n; ++i) {
    const ThreadCapture& t = r.threads[i];
    const auto at = static_cast<uint32_t>(i);
    tid[i] = t.tid;
    err[i] = t.err;
    tracer[i] = t.tracer_pid;
    reinjected[i] = t.reinjected_signal;
    pause[i] = static_cast<double>(t.pause_ns);
    status[i] = index_of(kStatuses, t.status);
    path[i] = index_of(kPaths, t.path);
    limited[i] = t.stack_limited ? 1 : 0;
    const uint64_t named[kRegisterColumns] = {t.regs.pc, t.regs.sp, t.regs.fp, t.regs.lr, t.regs.pac_mask};
    std::memcpy(regs.Data() + i * kRegisterColumns, named, sizeof named);
    raw_counts[i] = static_cast<uint32_t>(t.regs.raw_count);
    if (t.regs.raw_count > 0) std::memcpy(raw.Data() + raw_at, t.regs.raw, t.regs.raw_count * sizeof(uint64_t));
    raw_at += t.regs.raw_count;
    hole_counts[i] = static_cast<uint32_t>(t.holes.size());
    for (const StackHole& h : t.holes) {
      holes[hole_at++] = h.offset;
      holes[hole_at++] = h.length;
    }
    stack_sizes[i] = static_cast<double>(t.stack_size);
    if (t.stack_size > 0) std::memcpy(stacks.Data() + stack_at, (*r.arena)->at(t.stack_offset), t.stack_size);
    stack_at += t.stack_size;
    states[i] = t.state;
    names.Set(at, Napi::String::New(env, t.name));
    syscalls.Set(at, Napi::String::New(env, t.syscall));
    fallbacks.Set(at, Napi::String::New(env, t.fallback));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("tid", tid);
  o.Set("name", names);
  o.Set("state", states);
  o.Set("status", status);
  o.Set("errno", err);
  o.Set("syscall", syscalls);
  o.Set("tracerPid", tracer);
  o.Set("reinjectedSignal", reinjected);
  o.Set("pauseNs", pause);
  o.Set("capture", path);
  o.Set("captureFallback", fallbacks);
  o.Set("regs", regs);
  o.Set("rawRegCounts", raw_counts);
  o.Set("rawRegs", raw);
  o.Set("stackBytes", stack_sizes);
  o.Set("stackLimited", limited);
  o.Set("holeCounts", hole_counts);
  o.Set("holes", holes);
  o.Set("stacks", stacks);
  return o;
}

Napi::Object result_to_js(Napi::Env env, const CaptureResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", r.pid);
  o.Set("maps", r.maps);
  o.Set("threads", threads_to_js(env, r));
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

Napi::Array CaptureStatusNames(Napi::Env env) { return names_of(env, kStatuses, status_name); }

Napi::Array CapturePathNames(Napi::Env env) { return names_of(env, kPaths, path_name); }

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
