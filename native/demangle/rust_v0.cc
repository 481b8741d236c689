// Rust v0 names, printed exactly as GNU binutils prints them (libiberty's rules): verbose as
// c++filt does, with crate roots' disambiguators in hex (`core[1cc0d3…]`) and constants' types
// (`3: usize`); short as `nm -C`, perf and gdb do, without both. Lifetimes that no binder
// introduced get a wrapped-around index, and a `.suffix` after the name is dropped. The name is parsed and printed in
// one pass, with libiberty's rules for what is an error and what is not, so the names c++filt refuses are refused here
// too.
//
// Names come from files we did not write, so nothing here trusts them: every read is
// bounds-checked, nesting is capped as libiberty caps it (1024 levels), and because backrefs
// can make the output exponential in the length of the name, the work and the output are
// capped too. A name over a cap stays mangled (c++filt would go on printing).
#include "demangle/rust_v0.h"

#include <cinttypes>
#include <cstdint>
#include <cstdio>

#include "demangle/punycode.h"

namespace stackshot {

namespace {

// libiberty's RUST_MAX_RECURSION_COUNT, counted at the same places.
constexpr unsigned kMaxDepth = 1024;
// Grammar nodes visited; a real name has at most a few thousand.
constexpr size_t kMaxSteps = size_t{1} << 18;
// Bytes printed; the longest real names print a few KiB.
constexpr size_t kMaxOutput = size_t{1} << 18;
// Characters of one non-ASCII identifier (decoding is quadratic in it).
constexpr size_t kMaxIdentChars = 256;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

const char* basic_type(char tag) {
  switch (tag) {
    case 'a': return "i8";
    case 'b': return "bool";
    case 'c': return "char";
    case 'd': return "f64";
    case 'e': return "str";
    case 'f': return "f32";
    case 'h': return "u8";
    case 'i': return "isize";
    case 'j': return "usize";
    case 'l': return "i32";
    case 'm': return "u32";
    case 'n': return "i128";
    case 'o': return "u128";
    case 'p': return "_";
    case 's': return "i16";
    case 't': return "u16";
    case 'u': return "()";
    case 'v': return "...";
    case 'x': return "i64";
    case 'y': return "u64";
    case 'z': return "!";
    default: return nullptr;
  }
}

struct Ident {
  std::string_view ascii;
  // Insertion codes of a `u`-prefixed (Punycode) identifier.
  std::string_view codes;
  bool punycode = false;
  bool named() const { return !ascii.empty() || punycode; }
};

class V0Demangler {
 public:
  V0Demangler(std::string_view sym, bool verbose) : sym_(sym), verbose_(verbose) {}

  std::optional<std::string> run() {
    path(true);
    // What follows the path names the crate that instantiated it: parsed, not printed.
    if (!failed_ && pos_ < sym_.size()) {
      silent_ = true;
      path(false);
    }
    if (failed_ || pos_ != sym_.size()) return std::nullopt;
    return std::move(out_);
  }

 private:
  // One level of nesting for the depth and work caps; the level is left when it goes away.
  class Level {
   public:
    explicit Level(V0Demangler& d) : d_(d) { ok_ = d.enter(); }
    ~Level() { d_.depth_--; }
    Level(const Level&) = delete;
    Level& operator=(const Level&) = delete;
    bool ok() const { return ok_; }

   private:
    V0Demangler& d_;
    bool ok_;
  };

  bool enter() {
    depth_++;
    if (depth_ > kMaxDepth || ++steps_ > kMaxSteps) fail();
    return !failed_;
  }

  void fail() { failed_ = true; }

  // --- Reading ---

  char peek() const { return pos_ < sym_.size() ? sym_[pos_] : '\0'; }

  bool eat(char c) {
    if (peek() != c) return false;
    pos_++;
    return true;
  }

  char next() {
    const char c = peek();
    if (c == '\0') {
      fail();
    } else {
      pos_++;
    }
    return c;
  }

  // `_` is 0; base-62 digits then `_` are their value + 1.
  uint64_t base62() {
    if (eat('_')) return 0;
    uint64_t x = 0;
    while (!eat('_') && !failed_) {
      const char c = next();
      x *= 62;
      if (is_digit(c)) {
        x += static_cast<uint64_t>(c - '0');
      } else if (is_lower(c)) {
        x += 10 + static_cast<uint64_t>(c - 'a');
      } else if (is_upper(c)) {
        x += 36 + static_cast<uint64_t>(c - 'A');
      } else {
        fail();
        return 0;
      }
    }
    return x + 1;
  }

  // Absent (0), or `tag` and a base-62 number (its value + 1).
  uint64_t opt_base62(char tag) { return eat(tag) ? 1 + base62() : 0; }

  uint64_t disambiguator() { return opt_base62('s'); }

  // Lowercase hex digits up to `_`; returns how many there were.
  size_t hex_digits(uint64_t* value) {
    size_t n = 0;
    *value = 0;
    while (!eat('_')) {
      *value <<= 4;
      const char c = next();
      if (is_digit(c)) {
        *value |= static_cast<uint64_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        *value |= 10 + static_cast<uint64_t>(c - 'a');
      } else {
        fail();
        return 0;
      }
      n++;
    }
    return n;
  }

  Ident ident() {
    Ident id;
    id.punycode = eat('u');
    const char c = next();
    if (!is_digit(c)) {
      fail();
      return id;
    }
    uint64_t len = static_cast<uint64_t>(c - '0');
    if (c != '0') {
      while (is_digit(peek())) len = len * 10 + static_cast<uint64_t>(next() - '0');
    }
    eat('_');  // separates the length from identifiers that start with a digit or `_`
    const size_t start = pos_;
    if (start > sym_.size() || len > sym_.size() - start) {
      fail();
      return id;
    }
    pos_ = start + static_cast<size_t>(len);
    id.ascii = sym_.substr(start, static_cast<size_t>(len));
    if (id.punycode) {
      // The last `_` separates the ASCII characters from the insertion codes.
      const size_t sep = id.ascii.rfind('_');
      id.codes = sep == std::string_view::npos ? id.ascii : id.ascii.substr(sep + 1);
      id.ascii = sep == std::string_view::npos ? std::string_view() : id.ascii.substr(0, sep);
      if (id.codes.empty()) fail();
    }
    return id;
  }

  // --- Printing ---

  void print(std::string_view s) {
    if (failed_ || silent_) return;
    if (out_.size() + s.size() > kMaxOutput) {
      fail();
      return;
    }
    out_.append(s);
  }

  void print_dec(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    print(buf);
  }

  void print_hex(uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIx64, v);
    print(buf);
  }

  void print_ident(const Ident& id) {
    if (failed_ || silent_) return;
    if (!id.punycode) {
      print(id.ascii);
      return;
    }
    steps_ += id.ascii.size() + id.codes.size();
    if (steps_ > kMaxSteps) {
      fail();
      return;
    }
    switch (decode_punycode(id.ascii, id.codes, kMaxIdentChars, &scratch_)) {
      case PunycodeResult::kOk: print(scratch_); break;
      case PunycodeResult::kTruncated: break;
      case PunycodeResult::kInvalid: fail(); break;
    }
  }

  // Lifetime 0 is `'_`; the others count back from the innermost binder: 'a, 'b, … '_26, ….
  void print_lifetime(uint64_t index) {
    print("'");
    if (index == 0) {
      print("_");
      return;
    }
    const uint64_t depth = bound_lifetimes_ - index;  // wraps for an unbound index, as in c++filt
    if (depth < 26) {
      const char c = static_cast<char>('a' + depth);
      print(std::string_view(&c, 1));
    } else {
      print("_");
      print_dec(depth);
    }
  }

  // --- Grammar ---

  // `G` <count>: `for<'a, 'b> `; the new lifetimes stay bound until the caller restores
  // bound_lifetimes_.
  void binder() {
    if (failed_) return;
    const uint64_t count = opt_base62('G');
    if (count == 0) return;
    print("for<");
    for (uint64_t i = 0; i < count && !failed_; i++) {
      if (++steps_ > kMaxSteps) fail();  // the count is 64 bits of input
      if (i > 0) print(", ");
      bound_lifetimes_++;
      print_lifetime(1);
    }
    print("> ");
  }

  // A path; in a value's path (`in_value`), generic arguments take a turbofish: `f::<T>`.
  void path(bool in_value) {
    if (failed_) return;
    Level level(*this);
    if (!level.ok()) return;
    const char tag = next();
    switch (tag) {
      case 'C': {  // crate root
        const uint64_t dis = disambiguator();
        const Ident name = ident();
        print_ident(name);
        if (verbose_) {
          print("[");
          print_hex(dis);
          print("]");
        }
        break;
      }
      case 'N': {  // nested path in a namespace
        const char ns = next();
        if (!is_lower(ns) && !is_upper(ns)) {
          fail();
          return;
        }
        path(in_value);
        const uint64_t dis = disambiguator();
        const Ident name = ident();
        if (is_upper(ns)) {
          // Special namespaces: closures, shims, and others printed by their letter.
          print("::{");
          if (ns == 'C') {
            print("closure");
          } else if (ns == 'S') {
            print("shim");
          } else {
            print(std::string_view(&ns, 1));
          }
          if (name.named()) {
            print(":");
            print_ident(name);
          }
          print("#");
          print_dec(dis);
          print("}");
        } else if (name.named()) {
          print("::");
          print_ident(name);
        }
        break;
      }
      case 'M':    // inherent impl: <Type>
      case 'X': {  // trait impl: <Type as Trait>
        // The impl's own path (where it is written) is not printed.
        disambiguator();
        const bool was_silent = silent_;
        silent_ = true;
        path(in_value);
        silent_ = was_silent;
      }
        [[fallthrough]];
      case 'Y':  // trait definition: <Type as Trait>
        print("<");
        type();
        if (tag != 'M') {
          print(" as ");
          path(false);
        }
        print(">");
        break;
      case 'I':  // generic arguments
        path(in_value);
        if (in_value) print("::");
        print("<");
        generic_args();
        print(">");
        break;
      case 'B': backref([this, in_value] { path(in_value); }); break;
      default: fail();
    }
  }

  // Generic arguments up to `E`, comma-separated.
  void generic_args() {
    for (size_t i = 0; !failed_ && !eat('E'); i++) {
      if (i > 0) print(", ");
      generic_arg();
    }
  }

  void generic_arg() {
    if (eat('L')) {
      print_lifetime(base62());
    } else if (eat('K')) {
      constant();
    } else {
      type();
    }
  }

  // `B` <offset>: the same production again, read at an earlier offset. Parsing without
  // printing does not follow backrefs (nothing to print, and the target was parsed already).
  template <typename Production>
  void backref(Production production) {
    const uint64_t target = base62();
    if (silent_ || failed_) return;
    const size_t saved = pos_;
    pos_ = target < sym_.size() ? static_cast<size_t>(target) : sym_.size();
    production();
    pos_ = saved;
  }

  void type() {
    if (failed_) return;
    const char tag = next();
    if (const char* basic = basic_type(tag)) {
      print(basic);
      return;
    }
    Level level(*this);
    if (!level.ok()) return;
    switch (tag) {
      case 'R':  // &T
      case 'Q':  // &mut T
        print("&");
        if (eat('L')) {
          const uint64_t lifetime = base62();
          if (lifetime != 0) {
            print_lifetime(lifetime);
            print(" ");
          }
        }
        if (tag != 'R') print("mut ");
        type();
        break;
      case 'P':  // *const T
      case 'O':  // *mut T
        print(tag == 'P' ? "*const " : "*mut ");
        type();
        break;
      case 'A':  // [T; N]
      case 'S':  // [T]
        print("[");
        type();
        if (tag == 'A') {
          print("; ");
          constant();
        }
        print("]");
        break;
      case 'T': {  // tuple; a 1-tuple keeps its comma
        print("(");
        size_t n = 0;
        for (; !failed_ && !eat('E'); n++) {
          if (n > 0) print(", ");
          type();
        }
        if (n == 1) print(",");
        print(")");
        break;
      }
      case 'F': fn_type(); break;
      case 'D': dyn_type(); break;
      case 'B': backref([this] { type(); }); break;
      default:  // a named type: its path
        pos_--;
        path(false);
    }
  }

  // `F` [binder] [`U`] [`K` <abi>] <params> `E` <return type>
  void fn_type() {
    const uint64_t outer_lifetimes = bound_lifetimes_;
    binder();
    if (eat('U')) print("unsafe ");
    if (eat('K')) {
      std::string_view abi = "C";
      if (!eat('C')) {
        const Ident id = ident();
        if (id.ascii.empty() || id.punycode) {
          fail();
          bound_lifetimes_ = outer_lifetimes;
          return;
        }
        abi = id.ascii;
      }
      print("extern \"");
      // `-` in an ABI name is mangled as `_`. Like c++filt, the character right after a
      // replaced `_` is never itself taken for one.
      for (size_t i = 0; i < abi.size(); i++) {
        if (abi[i] == '_') {
          print(abi.substr(0, i));
          print("-");
          abi.remove_prefix(i + 1);
          i = 0;
        }
      }
      print(abi);
      print("\" ");
    }
    print("fn(");
    for (size_t i = 0; !failed_ && !eat('E'); i++) {
      if (i > 0) print(", ");
      type();
    }
    print(")");
    if (!eat('u')) {  // `()` is not printed as a return type
      print(" -> ");
      type();
    }
    bound_lifetimes_ = outer_lifetimes;
  }

  // `D` [binder] <traits> `E` `L` <lifetime>: dyn A + B + 'a
  void dyn_type() {
    print("dyn ");
    const uint64_t outer_lifetimes = bound_lifetimes_;
    binder();
    for (size_t i = 0; !failed_ && !eat('E'); i++) {
      if (i > 0) print(" + ");
      dyn_trait();
    }
    bound_lifetimes_ = outer_lifetimes;
    if (!eat('L')) {
      fail();
      return;
    }
    const uint64_t lifetime = base62();
    if (lifetime != 0) {
      print(" + ");
      print_lifetime(lifetime);
    }
  }

  // A trait of a trait object, with its associated type bindings inside its generic
  // arguments: `Iterator<Item = u8>`, `Fn<(u8,), Output = u16>`.
  void dyn_trait() {
    if (failed_) return;
    bool open = path_maybe_open_generics();
    while (eat('p')) {
      print(open ? ", " : "<");
      open = true;
      const Ident name = ident();
      print_ident(name);
      print(" = ");
      type();
    }
    if (open) print(">");
  }

  // A path whose generic arguments are left open (no `>`) for bindings to follow; returns
  // whether they were.
  bool path_maybe_open_generics() {
    if (failed_) return false;
    Level level(*this);
    if (!level.ok()) return false;
    bool open = false;
    if (eat('B')) {
      backref([this, &open] { open = path_maybe_open_generics(); });
    } else if (eat('I')) {
      path(false);
      print("<");
      open = true;
      for (size_t i = 0; !failed_ && !eat('E'); i++) {
        if (i > 0) print(", ");
        generic_arg();
      }
    } else {
      path(false);
    }
    return open;
  }

  // A const generic argument or array length: <type tag> <value>, printed `value: type`.
  void constant() {
    if (failed_) return;
    Level level(*this);
    if (!level.ok()) return;
    if (eat('B')) {
      backref([this] { constant(); });
      return;
    }
    const char ty = next();
    switch (ty) {
      case 'p':  // placeholder
        print("_");
        return;
      case 'h':
      case 't':
      case 'm':
      case 'y':
      case 'o':
      case 'j': const_uint(); break;
      case 'a':
      case 's':
      case 'l':
      case 'x':
      case 'n':
      case 'i':
        if (eat('n')) print("-");
        const_uint();
        break;
      case 'b': const_bool(); break;
      case 'c': const_char(); break;
      default: fail(); return;
    }
    if (!failed_ && verbose_) {
      print(": ");
      print(basic_type(ty));
    }
  }

  void const_uint() {
    if (failed_) return;
    uint64_t value;
    const size_t n = hex_digits(&value);
    if (n > 16) {
      // Wider than 64 bits: the digits verbatim. c++filt prints the n characters that end at
      // the closing `_` (so starting one digit late); the same here, to print what it prints.
      print("0x");
      print(sym_.substr(pos_ - n, n));
    } else if (n > 0) {
      print_dec(value);
    } else {
      fail();
    }
  }

  void const_bool() {
    uint64_t value;
    if (hex_digits(&value) != 1 || value > 1) {
      fail();
      return;
    }
    print(value == 0 ? "false" : "true");
  }

  void const_char() {
    uint64_t value;
    const size_t n = hex_digits(&value);
    if (n == 0 || n > 8) {
      fail();
      return;
    }
    // c++filt's approximation of Rust's char Debug output: printable ASCII as is (quote and
    // backslash unescaped), three control characters escaped, everything else as \u{hex}.
    print("'");
    if (value == '\t') {
      print("\\t");
    } else if (value == '\r') {
      print("\\r");
    } else if (value == '\n') {
      print("\\n");
    } else if (value > ' ' && value < '~') {
      const char c = static_cast<char>(value);
      print(std::string_view(&c, 1));
    } else {
      print("\\u{");
      print_hex(value);
      print("}");
    }
    print("'");
  }

  std::string_view sym_;
  const bool verbose_;
  size_t pos_ = 0;
  bool failed_ = false;
  // Parsing without printing: the impl path of `M`/`X`, the instantiating crate.
  bool silent_ = false;
  unsigned depth_ = 0;
  size_t steps_ = 0;
  uint64_t bound_lifetimes_ = 0;
  std::string out_;
  std::string scratch_;
};

}  // namespace

std::optional<std::string> demangle_rust_v0(std::string_view name, bool verbose) {
  if (name.size() < 3 || name[0] != '_' || name[1] != 'R') return std::nullopt;
  std::string_view sym = name.substr(2);
  // Every path starts with an uppercase tag (an encoding version number is not supported,
  // as in c++filt).
  if (!is_upper(sym[0])) return std::nullopt;
  // The name is [_0-9A-Za-z] up to an optional `.suffix` (e.g. `.llvm.1234`), not printed.
  for (size_t i = 0; i < sym.size(); i++) {
    const char c = sym[i];
    if (c == '.') {
      sym = sym.substr(0, i);
      break;
    }
    if (c != '_' && !is_digit(c) && !is_lower(c) && !is_upper(c)) return std::nullopt;
  }
  return V0Demangler(sym, verbose).run();
}

}  // namespace stackshot
