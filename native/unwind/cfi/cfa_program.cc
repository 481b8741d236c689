#include "unwind/cfi/cfa_program.h"

#include <limits>

#include "unwind/cfi/dwarf_constants.h"

namespace stackshot {

const char* cfa_status_name(CfaStatus status) {
  switch (status) {
    case CfaStatus::kOk: return "ok";
    case CfaStatus::kTruncated: return "truncated";
    case CfaStatus::kBadOpcode: return "bad-opcode";
    case CfaStatus::kBadLocation: return "bad-location";
    case CfaStatus::kStateOverflow: return "state-overflow";
    case CfaStatus::kStateUnderflow: return "state-underflow";
    case CfaStatus::kTooManyInstructions: return "too-many-instructions";
  }
  return "unknown";
}

namespace {

// gcc and ld describe a 16-byte .plt entry (`jmp *GOT; push $n; jmp .plt0`) with
//   DW_OP_breg7 (rsp) K; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and; DW_OP_litT; DW_OP_ge;
//   DW_OP_lit3; DW_OP_shl; DW_OP_plus
// i.e. CFA = rsp + K + ((rip & 15) >= T ? 8 : 0): 8 more bytes once the push has run.
bool parse_plt_expression(const uint8_t* data, size_t size, int64_t* offset, uint8_t* threshold) {
  ByteCursor c(data, size);
  if (c.u8() != dw::kOpBreg0 + 7) return false;
  const int64_t k = c.sleb128();
  if (c.u8() != dw::kOpBreg0 + 16) return false;
  if (c.sleb128() != 0) return false;
  if (c.u8() != dw::kOpLit0 + 15) return false;
  if (c.u8() != dw::kOpAnd) return false;
  const uint8_t op = c.u8();
  unsigned t;
  if (op >= dw::kOpLit0 && op <= dw::kOpLit31) {
    t = op - dw::kOpLit0;
  } else if (op == dw::kOpConst1u) {
    t = c.u8();
  } else {
    return false;
  }
  if (c.u8() != dw::kOpGe) return false;
  if (c.u8() != dw::kOpLit0 + 3) return false;
  if (c.u8() != dw::kOpShl) return false;
  if (c.u8() != dw::kOpPlus) return false;
  if (!c.ok() || !c.at_end() || t > 16) return false;
  *offset = k;
  *threshold = static_cast<uint8_t>(t);
  return true;
}

// Multiplication by a data alignment factor, saturating instead of overflowing (UB); a
// saturated offset is later rejected as not fitting the compact rule.
int64_t factored(int64_t value, int64_t factor) {
  int64_t out;
  if (__builtin_mul_overflow(value, factor, &out)) {
    return (value < 0) != (factor < 0) ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return out;
}

int64_t factored_u(uint64_t value, int64_t factor) {
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return factor == 0 ? 0 : (factor < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max());
  }
  return factored(static_cast<int64_t>(value), factor);
}

class Machine {
 public:
  Machine(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch, uint64_t stop_pc,
          RowSink* sink)
      : section_(section), cie_(cie), fde_(fde), arch_(arch), stop_pc_(stop_pc), sink_(sink) {
    fp_column_ = cfi_registers(arch).fp;
  }

  CfaStatus run(uint64_t* error_pc) {
    loc_ = fde_.pc_begin;
    in_cie_ = true;
    CfaStatus st = execute(cie_.insn_begin, cie_.insn_end);
    if (st == CfaStatus::kOk) {
      initial_ = row_;
      depth_ = 0;  // a CIE's unbalanced remember_state does not leak into the FDE
      in_cie_ = false;
      st = execute(fde_.insn_begin, fde_.insn_end);
    }
    if (st == kStopped) return CfaStatus::kOk;
    if (st != CfaStatus::kOk) {
      *error_pc = loc_;
      return st;
    }
    sink_->row(loc_, row_);
    return CfaStatus::kOk;
  }

 private:
  // Internal status: the sink or stop_pc ended the program (not an error).
  static constexpr CfaStatus kStopped = static_cast<CfaStatus>(0xff);

  DwarfRegRule* column(uint64_t reg) {
    if (reg == cie_.ra_register) return &row_.ra;
    if (reg == fp_column_) return &row_.fp;
    return nullptr;
  }
  const DwarfRegRule* initial_column(uint64_t reg) const {
    if (reg == cie_.ra_register) return &initial_.ra;
    if (reg == fp_column_) return &initial_.fp;
    return nullptr;
  }
  void set(uint64_t reg, DwarfRuleKind kind, int64_t value) {
    if (DwarfRegRule* r = column(reg)) *r = DwarfRegRule{kind, value};
    // The RA and FP columns can coincide only in odd CIEs; keep them consistent.
    if (reg == cie_.ra_register && reg == fp_column_) row_.fp = row_.ra;
  }
  void restore(uint64_t reg) {
    // Back to the CIE's rule; inside the CIE itself, back to no rule.
    DwarfRegRule value;
    if (!in_cie_) {
      if (const DwarfRegRule* r = initial_column(reg)) value = *r;
    }
    if (DwarfRegRule* r = column(reg)) *r = value;
    if (reg == cie_.ra_register && reg == fp_column_) row_.fp = row_.ra;
  }

  // Moves to a new location; emits the row that ends there. Returns kStopped past stop_pc or
  // the FDE's end, kBadLocation if it would go backwards.
  CfaStatus advance_to(uint64_t new_loc) {
    if (in_cie_) return CfaStatus::kOk;  // a CIE has no location; such advances are ignored
    if (new_loc < loc_) return CfaStatus::kBadLocation;
    if (new_loc == loc_) return CfaStatus::kOk;
    if (new_loc > stop_pc_ || new_loc >= fde_.pc_end) {
      sink_->row(loc_, row_);
      return kStopped;
    }
    if (!sink_->row(loc_, row_)) return kStopped;
    loc_ = new_loc;
    return CfaStatus::kOk;
  }
  CfaStatus advance(uint64_t delta) {
    uint64_t bytes;
    if (__builtin_mul_overflow(delta, cie_.code_align, &bytes)) return CfaStatus::kBadLocation;
    if (bytes > std::numeric_limits<uint64_t>::max() - loc_) return CfaStatus::kBadLocation;
    return advance_to(loc_ + bytes);
  }

  CfaStatus execute(uint64_t begin, uint64_t end) {
    // Ranges come from the parser; clamp anyway so a caller's hand-made CieInfo cannot overrun.
    if (end > section_.size()) end = section_.size();
    ByteCursor c(section_.data(), end, begin);
    const int64_t daf = cie_.data_align;
    while (!c.at_end()) {
      if (++executed_ > kMaxCfaInstructions) return CfaStatus::kTooManyInstructions;
      const uint8_t op = c.u8();
      const uint8_t low = op & dw::kCfaLowMask;
      CfaStatus st = CfaStatus::kOk;
      switch (op & dw::kCfaHighMask) {
        case dw::kCfaAdvanceLoc: st = advance(low); break;
        case dw::kCfaOffset: {
          const uint64_t off = c.uleb128();
          set(low, DwarfRuleKind::kOffset, factored_u(off, daf));
          break;
        }
        case dw::kCfaRestore: restore(low); break;
        default: st = extended(op, c, daf); break;
      }
      if (!c.ok()) return CfaStatus::kTruncated;
      if (st != CfaStatus::kOk) return st;
    }
    return c.ok() ? CfaStatus::kOk : CfaStatus::kTruncated;
  }

  CfaStatus extended(uint8_t op, ByteCursor& c, int64_t daf) {
    switch (op) {
      case dw::kCfaNop: return CfaStatus::kOk;
      case dw::kCfaSetLoc: {
        const EncodedPointer p = section_.read_address(c, cie_);
        if (p.status == PointerStatus::kTruncated) return CfaStatus::kTruncated;
        if (p.status != PointerStatus::kOk) return CfaStatus::kBadLocation;
        return advance_to(p.value);
      }
      case dw::kCfaAdvanceLoc1: {
        const uint8_t d = c.u8();
        return c.ok() ? advance(d) : CfaStatus::kTruncated;
      }
      case dw::kCfaAdvanceLoc2: {
        const uint16_t d = c.u16();
        return c.ok() ? advance(d) : CfaStatus::kTruncated;
      }
      case dw::kCfaAdvanceLoc4: {
        const uint32_t d = c.u32();
        return c.ok() ? advance(d) : CfaStatus::kTruncated;
      }
      case dw::kCfaOffsetExtended: {
        const uint64_t reg = c.uleb128();
        const uint64_t off = c.uleb128();
        set(reg, DwarfRuleKind::kOffset, factored_u(off, daf));
        return CfaStatus::kOk;
      }
      case dw::kCfaOffsetExtendedSf: {
        const uint64_t reg = c.uleb128();
        const int64_t off = c.sleb128();
        set(reg, DwarfRuleKind::kOffset, factored(off, daf));
        return CfaStatus::kOk;
      }
      case dw::kCfaGnuNegativeOffsetExtended: {
        const uint64_t reg = c.uleb128();
        const uint64_t off = c.uleb128();
        set(reg, DwarfRuleKind::kOffset, factored_u(off, daf == std::numeric_limits<int64_t>::min() ? 0 : -daf));
        return CfaStatus::kOk;
      }
      case dw::kCfaValOffset: {
        const uint64_t reg = c.uleb128();
        const uint64_t off = c.uleb128();
        set(reg, DwarfRuleKind::kValOffset, factored_u(off, daf));
        return CfaStatus::kOk;
      }
      case dw::kCfaValOffsetSf: {
        const uint64_t reg = c.uleb128();
        const int64_t off = c.sleb128();
        set(reg, DwarfRuleKind::kValOffset, factored(off, daf));
        return CfaStatus::kOk;
      }
      case dw::kCfaRestoreExtended: restore(c.uleb128()); return CfaStatus::kOk;
      case dw::kCfaUndefined: set(c.uleb128(), DwarfRuleKind::kUndefined, 0); return CfaStatus::kOk;
      case dw::kCfaSameValue: set(c.uleb128(), DwarfRuleKind::kSameValue, 0); return CfaStatus::kOk;
      case dw::kCfaRegister: {
        const uint64_t reg = c.uleb128();
        const uint64_t other = c.uleb128();
        set(reg, DwarfRuleKind::kRegister, static_cast<int64_t>(other));
        return CfaStatus::kOk;
      }
      case dw::kCfaRememberState:
        if (depth_ >= kMaxRememberDepth) return CfaStatus::kStateOverflow;
        stack_[depth_++] = row_;
        return CfaStatus::kOk;
      case dw::kCfaRestoreState:
        if (depth_ == 0) return CfaStatus::kStateUnderflow;
        row_ = stack_[--depth_];
        return CfaStatus::kOk;
      case dw::kCfaDefCfa:
        row_.cfa.reg = c.uleb128();
        row_.cfa.offset = static_cast<int64_t>(c.uleb128());
        row_.cfa.kind = CfaRuleKind::kRegOffset;
        return CfaStatus::kOk;
      case dw::kCfaDefCfaSf:
        row_.cfa.reg = c.uleb128();
        row_.cfa.offset = factored(c.sleb128(), daf);
        row_.cfa.kind = CfaRuleKind::kRegOffset;
        return CfaStatus::kOk;
      case dw::kCfaDefCfaRegister:
        row_.cfa.reg = c.uleb128();
        row_.cfa.kind = CfaRuleKind::kRegOffset;
        return CfaStatus::kOk;
      case dw::kCfaDefCfaOffset:
        // Only the offset: the rule's kind stays (see CfaRule).
        row_.cfa.offset = static_cast<int64_t>(c.uleb128());
        return CfaStatus::kOk;
      case dw::kCfaDefCfaOffsetSf: row_.cfa.offset = factored(c.sleb128(), daf); return CfaStatus::kOk;
      case dw::kCfaDefCfaExpression: {
        const uint64_t len = c.uleb128();
        const size_t start = c.pos();
        if (!c.skip(len)) return CfaStatus::kTruncated;
        int64_t k = 0;
        uint8_t t = 0;
        if (arch_ == CfiArch::kX86_64 && parse_plt_expression(section_.data() + start, len, &k, &t)) {
          row_.cfa.kind = CfaRuleKind::kPltExpression;
          row_.cfa.plt_offset = k;
          row_.cfa.plt_threshold = t;
        } else {
          row_.cfa.kind = CfaRuleKind::kExpression;
        }
        return CfaStatus::kOk;
      }
      case dw::kCfaExpression:
      case dw::kCfaValExpression: {
        const uint64_t reg = c.uleb128();
        const uint64_t len = c.uleb128();
        if (!c.skip(len)) return CfaStatus::kTruncated;
        set(reg, op == dw::kCfaExpression ? DwarfRuleKind::kExpression : DwarfRuleKind::kValExpression, 0);
        return CfaStatus::kOk;
      }
      case dw::kCfaGnuArgsSize: c.uleb128(); return CfaStatus::kOk;
      case dw::kCfaGnuWindowSave:
        // 0x2d is SPARC's window save everywhere but aarch64, which reuses it for PAC.
        if (arch_ != CfiArch::kAarch64) return CfaStatus::kBadOpcode;
        row_.ra_signed = !row_.ra_signed;
        return CfaStatus::kOk;
      default: return CfaStatus::kBadOpcode;
    }
  }

  const FrameSection& section_;
  const CieInfo& cie_;
  const FdeInfo& fde_;
  const CfiArch arch_;
  const uint64_t stop_pc_;
  RowSink* const sink_;
  uint64_t fp_column_ = 0;
  uint64_t loc_ = 0;
  bool in_cie_ = true;
  size_t executed_ = 0;
  CfaRow row_;
  CfaRow initial_;
  CfaRow stack_[kMaxRememberDepth];
  size_t depth_ = 0;
};

class LastRowSink : public RowSink {
 public:
  bool row(uint64_t, const CfaRow& r) override {
    last = r;
    any = true;
    return true;
  }
  CfaRow last;
  bool any = false;
};

bool fits_int32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

void compact_reg(const DwarfRegRule& r, RegRuleKind* kind, int32_t* offset) {
  *offset = 0;
  switch (r.kind) {
    case DwarfRuleKind::kUnspecified:
    case DwarfRuleKind::kSameValue: *kind = RegRuleKind::kUnchanged; return;
    case DwarfRuleKind::kUndefined: *kind = RegRuleKind::kUndefined; return;
    case DwarfRuleKind::kOffset:
      if (fits_int32(r.value)) {
        *kind = RegRuleKind::kAtCfaOffset;
        *offset = static_cast<int32_t>(r.value);
      } else {
        *kind = RegRuleKind::kUnsupported;
      }
      return;
    default: *kind = RegRuleKind::kUnsupported; return;
  }
}

}  // namespace

CfaStatus run_cfa_program(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch,
                          uint64_t stop_pc, RowSink* sink, uint64_t* error_pc) {
  // CfaRow stack of kMaxRememberDepth lives in the machine: ~3 KiB of stack.
  Machine machine(section, cie, fde, arch, stop_pc, sink);
  uint64_t ignored = 0;
  return machine.run(error_pc != nullptr ? error_pc : &ignored);
}

CfaStatus cfa_row_at(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch, uint64_t pc,
                     CfaRow* row) {
  LastRowSink sink;
  const CfaStatus st = run_cfa_program(section, cie, fde, arch, pc, &sink, nullptr);
  if (st != CfaStatus::kOk) return st;
  *row = sink.last;
  return CfaStatus::kOk;
}

UnwindRule unsupported_rule(bool signal_frame) {
  UnwindRule r;
  r.cfa_kind = CfaKind::kUnsupported;
  r.ra_kind = RegRuleKind::kUnsupported;
  r.fp_kind = RegRuleKind::kUnsupported;
  r.signal_frame = signal_frame;
  return r;
}

UnwindRule compact_rule(const CfaRow& row, CfiArch arch, bool signal_frame) {
  const CfiRegisters regs = cfi_registers(arch);
  UnwindRule r;
  r.signal_frame = signal_frame;
  r.ra_signed = row.ra_signed;
  switch (row.cfa.kind) {
    case CfaRuleKind::kRegOffset:
      if (fits_int32(row.cfa.offset) && (row.cfa.reg == regs.sp || row.cfa.reg == regs.fp)) {
        r.cfa_kind = row.cfa.reg == regs.sp ? CfaKind::kSpOffset : CfaKind::kFpOffset;
        r.cfa_offset = static_cast<int32_t>(row.cfa.offset);
      }
      break;
    case CfaRuleKind::kPltExpression:
      if (fits_int32(row.cfa.plt_offset)) {
        r.cfa_kind = CfaKind::kPltExpression;
        r.cfa_offset = static_cast<int32_t>(row.cfa.plt_offset);
        r.plt_threshold = row.cfa.plt_threshold;
      }
      break;
    default: break;
  }
  compact_reg(row.ra, &r.ra_kind, &r.ra_offset);
  compact_reg(row.fp, &r.fp_kind, &r.fp_offset);
  return r;
}

}  // namespace stackshot
