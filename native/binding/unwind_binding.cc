// JavaScript <-> native for unwinding: loadCfi() registers a module's unwind sections once;
// unwind() walks copied stacks against the target's mappings.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "binding/convert.h"
#include "binding/exports.h"
#include "capture/clock.h"
#include "capture/stack_reader.h"
#include "unwind/cfi_registry.h"
#include "unwind/code_pages.h"
#include "unwind/unwinder.h"

namespace stackshot {

namespace {

// The architectures the unwinder knows (src/types.ts Arch); anything else is a caller's bug or
// an unchecked capture file, never silently unwound as x86-64.
std::optional<CfiArch> parse_arch(const Napi::Value& v) {
  if (!v.IsString()) return std::nullopt;
  const std::string name = v.As<Napi::String>().Utf8Value();
  if (name == "x64") return CfiArch::kX86_64;
  if (name == "arm64") return CfiArch::kAarch64;
  return std::nullopt;
}

void throw_bad_arch(Napi::Env env) {
  Napi::TypeError::New(env, "arch must be 'x64' or 'arm64'").ThrowAsJavaScriptException();
}

std::vector<uint8_t> bytes_option(const Napi::Object& o, const char* key) {
  auto [data, size] = bytes_of(o.Get(key));
  return std::vector<uint8_t>(data, data + size);
}

// A section's place in the module's file: { offset, size }; empty when absent or malformed.
FileRange range_option(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  if (!v.IsObject()) return FileRange{};
  const Napi::Object r = v.As<Napi::Object>();
  const int64_t offset = number_option(r, "offset", -1);
  const int64_t size = number_option(r, "size", -1);
  if (offset < 0 || size < 0) return FileRange{};
  return FileRange{static_cast<uint64_t>(offset), static_cast<uint64_t>(size)};
}

// .eh_frame and .eh_frame_hdr: as bytes, or from `file` ({ fd, ehFrame, ehFrameHdr }). False
// when the file could not be read.
bool eh_frame_option(const Napi::Object& o, CfiBytes* bytes) {
  const Napi::Value file = o.Get("file");
  if (!file.IsObject()) {
    bytes->eh_frame = bytes_option(o, "ehFrame");
    bytes->eh_frame_hdr = bytes_option(o, "ehFrameHdr");
    return true;
  }
  const Napi::Object f = file.As<Napi::Object>();
  const int64_t fd = number_option(f, "fd", -1);
  return fd >= 0 && fd <= INT32_MAX &&
         read_cfi_from_file(static_cast<int>(fd), range_option(f, "ehFrame"), range_option(f, "ehFrameHdr"), bytes);
}

// Mappings arrive flat: [start, end, bias, (cfi << 2) | (pending << 1) | executable] per mapping.
Mapping mapping_of(const uint64_t* w, uint32_t row) {
  const uint64_t flags = w[3];
  return Mapping{w[0], w[1], w[2], static_cast<int32_t>(flags >> 2), (flags & 1) != 0, (flags & 2) != 0, row};
}

bool is_u64_array(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_biguint64_array;
}

std::vector<Mapping> parse_mappings(const Napi::Value& v) {
  std::vector<Mapping> out;
  if (!is_u64_array(v)) return out;
  auto a = v.As<Napi::BigUint64Array>();
  for (size_t i = 0; i + 3 < a.ElementLength(); i += 4) out.push_back(mapping_of(a.Data() + i, i / 4));
  return out;
}

// input.loadMapping(row), when a walk first needs a pending mapping's unwind table: it loads
// the module and fills the row (bias, cfi) in input.mappings, read again here. It registers
// tables, so the registry's lock is let go meanwhile; a loader that throws leaves the mapping
// without a table.
LoadMapping mapping_loader(Napi::Env env, const Napi::Object& in, std::unique_lock<std::mutex>& lock) {
  const Napi::Value fn = in.Get("loadMapping");
  if (!fn.IsFunction()) return nullptr;
  return [env, in, fn, &lock](Mapping& m) {
    lock.unlock();
    fn.As<Napi::Function>().Call({Napi::Number::New(env, m.row)});
    lock.lock();
    if (env.IsExceptionPending()) {
      env.GetAndClearPendingException();
      return;
    }
    const Napi::Value v = in.Get("mappings");
    if (!is_u64_array(v)) return;
    auto a = v.As<Napi::BigUint64Array>();
    if (size_t{m.row} * 4 + 3 >= a.ElementLength()) return;
    const Mapping filled = mapping_of(a.Data() + size_t{m.row} * 4, m.row);
    if (filled.start != m.start || filled.end != m.end || filled.pending) return;
    m.bias = filled.bias;
    m.cfi = filled.cfi;
  };
}

// One thread's walk input from its RawUnwindThread, on top of what every thread shares; *holes
// gets the pages its copy skipped (the input points into it).
UnwindInput thread_input(const Napi::Object& t, PropertyNames& k, const UnwindInput& shared, const AddressSpace& space,
                         std::vector<StackHole>* holes) {
  UnwindInput input = shared;
  input.regs = {bigint_option(t, k("pc")), bigint_option(t, k("sp")), bigint_option(t, k("fp")),
                bigint_option(t, k("lr"))};
  // How it was captured: a blocked thread's capture knows pc and sp only; a perf sample's thread
  // was running, so what lies beyond its copy now proves nothing (it is captured again instead).
  const Napi::Value how = t.Get(k("capture"));
  const std::string path = how.IsString() ? how.As<Napi::String>().Utf8Value() : std::string();
  input.partial_regs = path == "blocked";
  if (path == "perf") input.read_stack = TargetMemory{};
  Napi::Value stack = t.Get(k("stack"));
  input.stack.base = input.regs.sp;
  if (stack.IsBuffer()) {
    auto b = stack.As<Napi::Buffer<uint8_t>>();
    input.stack.bytes = b.Data();
    input.stack.size = b.Length();
  }
  // Absent (older capture files): the copy was cut by its limit, as it then always was said.
  Napi::Value limited = t.Get(k("stackLimited"));
  input.stack.limited = limited.IsBoolean() ? limited.As<Napi::Boolean>().Value() : true;
  // Pages the copy skipped (offset, length pairs): the walk may not read them.
  Napi::Value hole_pairs = t.Get(k("stackHoles"));
  if (hole_pairs.IsTypedArray() && hole_pairs.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array) {
    auto pairs = hole_pairs.As<Napi::Uint32Array>();
    for (size_t h = 0; h + 1 < pairs.ElementLength(); h += 2) holes->push_back(StackHole{pairs[h], pairs[h + 1]});
  }
  input.stack.holes = holes->data();
  input.stack.hole_count = holes->size();
  if (const Mapping* m = space.find(input.regs.sp)) {
    input.stack.mapping_start = m->start;
    input.stack.mapping_end = m->end;
  } else {
    input.stack.mapping_start = input.stack.base;
    input.stack.mapping_end = input.stack.base + input.stack.size;
  }
  return input;
}

// Every walk first reads the code at its innermost pc (is it a signal trampoline?): those pages
// in one vectored read, not a system call each (8 pages: 4.4 against 12.9 us here).
void prefetch_innermost_code(const std::vector<UnwindInput>& inputs, const AddressSpace& space, StackReader& reader,
                             CodePages* code) {
  std::vector<uint64_t> pages;
  for (const UnwindInput& in : inputs) {
    const Mapping* m = space.find(in.regs.pc);
    if (m != nullptr && m->executable) pages.push_back(in.regs.pc & ~(CodePages::kChunk - 1));
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  if (pages.size() > CodePages::kMaxChunks) pages.resize(CodePages::kMaxChunks);  // what it keeps
  std::vector<uint8_t> bytes(pages.size() * CodePages::kChunk);
  const size_t got = reader.read_blocks(pages, CodePages::kChunk, bytes.data());
  for (size_t i = 0; i < got; ++i) code->add(pages[i], bytes.data() + i * CodePages::kChunk);
}

// Every walk in one set of columns, frames of thread i at [sum of counts before i, + counts[i]):
// a typed array per column, not per thread and column (allocating them cost more than the walk).
Napi::Object walks_to_js(Napi::Env env, const std::vector<WalkResult>& walks) {
  size_t total = 0;
  for (const WalkResult& w : walks) total += w.pcs.size();
  auto pcs = Napi::TypedArrayOf<uint64_t>::New(env, total);
  auto fps = Napi::TypedArrayOf<uint64_t>::New(env, total);
  auto methods = Napi::Uint8Array::New(env, total);
  auto return_addresses = Napi::Uint8Array::New(env, total);
  auto counts = Napi::Uint32Array::New(env, walks.size());
  auto ends = Napi::Uint8Array::New(env, walks.size());
  size_t at = 0;
  for (size_t i = 0; i < walks.size(); ++i) {
    const WalkResult& w = walks[i];
    const size_t n = w.pcs.size();
    if (n > 0) {
      std::memcpy(pcs.Data() + at, w.pcs.data(), n * sizeof(uint64_t));
      std::memcpy(fps.Data() + at, w.fps.data(), n * sizeof(uint64_t));
      std::memcpy(methods.Data() + at, w.methods.data(), n);
      std::memcpy(return_addresses.Data() + at, w.return_addresses.data(), n);
    }
    counts[i] = static_cast<uint32_t>(n);
    ends[i] = static_cast<uint8_t>(w.end);  // an index into endReasons
    at += n;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pcs", pcs);
  out.Set("fps", fps);
  out.Set("methods", methods);
  out.Set("returnAddresses", return_addresses);
  out.Set("counts", counts);
  out.Set("ends", ends);
  return out;
}

}  // namespace

Napi::Array EndReasonNames(Napi::Env env) {
  const auto n = static_cast<uint32_t>(EndReason::kCount);
  Napi::Array names = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; ++i) names.Set(i, end_reason_name(static_cast<EndReason>(i)));
  return names;
}

Napi::Value LoadCfi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "loadCfi(sections)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  CfiBytes bytes;
  if (!eh_frame_option(o, &bytes)) return Napi::Number::New(env, 0);
  bytes.eh_frame_vaddr = bigint_option(o, "ehFrameVaddr");
  bytes.eh_frame_hdr_vaddr = bigint_option(o, "ehFrameHdrVaddr");
  bytes.debug_frame = bytes_option(o, "debugFrame");
  const std::optional<CfiArch> arch = parse_arch(o.Get("arch"));
  if (!arch) {
    throw_bad_arch(env);
    return env.Null();
  }
  if (bytes.eh_frame.empty() && !bytes.eh_frame_lazy && bytes.debug_frame.empty()) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, CfiRegistry::instance().add(*arch, std::move(bytes)));
}

Napi::Value UnloadCfi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "unloadCfi(id)").ThrowAsJavaScriptException();
    return env.Null();
  }
  CfiRegistry::instance().remove(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

Napi::Value UnwindThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "unwind(input)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Object in = info[0].As<Napi::Object>();
  const std::optional<CfiArch> parsed_arch = parse_arch(in.Get("arch"));
  if (!parsed_arch) {
    throw_bad_arch(env);
    return env.Null();
  }
  const CfiArch arch = *parsed_arch;
  const size_t max_frames = static_cast<size_t>(number_option(in, "maxFrames", 1024));
  const bool fp_only = in.Get("framePointersOnly").ToBoolean().Value();
  const Napi::Value scan = in.Get("stackScan");
  const bool stack_scan = !scan.IsBoolean() || scan.As<Napi::Boolean>().Value();
  const uint64_t pac_mask = bigint_option(in, "pacMask");
  const pid_t pid = static_cast<pid_t>(number_option(in, "pid", 0));
  CfiRegistry& cfi = CfiRegistry::instance();
  auto lock = cfi.lock();
  const AddressSpace space(parse_mappings(in.Get("mappings")), mapping_loader(env, in, lock));

  // Code is read from the live target (it does not change under a stopped pc); offline, none.
  // (Sized for the longest stack read after the resume: a deep stack's extension, 8 MiB.)
  std::unique_ptr<StackReader> reader =
      pid > 0 ? std::make_unique<StackReader>(pid, false, 9u << 20, StackReader::Opening::kHeld) : nullptr;
  // The target ran since its copy was taken: its stack is read afresh (no page cache), and so is
  // code. Either only as far as pages are in memory: reading one that is not would populate it
  // for the target, or wait for its userfaultfd handler (StackReader::read_resident). A target
  // can drop and register a code page a thread has a frame in as well as a stack page.
  auto resident = [](void* ctx, uint64_t addr, uint8_t* out, size_t n) -> size_t {
    return static_cast<StackReader*>(ctx)->read_in_memory(addr, out, n);
  };
  CodePages code([&](uint64_t addr, uint8_t* out, size_t n) -> size_t {
    return reader ? resident(reader.get(), addr, out, n) : 0;
  });
  ReadCode read_code = [&](uint64_t addr, uint8_t* out, size_t n) { return code.read(addr, out, n); };
  TargetMemory read_stack;
  if (reader) {
    read_stack.ctx = reader.get();
    read_stack.fn = resident;
  }

  Napi::Array threads = in.Get("threads").As<Napi::Array>();
  UnwindInput shared{arch, {}, {}, fp_only, read_stack};
  shared.stack_scan = stack_scan;
  shared.pac_mask = pac_mask;
  PropertyNames k(env);
  std::vector<UnwindInput> inputs;
  std::vector<std::vector<StackHole>> holes(threads.Length());  // sized once: inputs point into it
  for (uint32_t i = 0; i < threads.Length(); ++i) {
    inputs.push_back(thread_input(threads.Get(i).As<Napi::Object>(), k, shared, space, &holes[i]));
  }
  if (reader) prefetch_innermost_code(inputs, space, *reader, &code);
  std::vector<WalkResult> walks;
  walks.reserve(inputs.size());
  for (const UnwindInput& input : inputs) walks.push_back(unwind_thread(input, space, cfi, read_code, max_frames));
  return walks_to_js(env, walks);
}

}  // namespace stackshot
