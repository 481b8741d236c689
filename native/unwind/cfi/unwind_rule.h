// The compact, per-address unwind rule the hybrid unwinder consumes: how to find the CFA and
// where the caller's return address and frame pointer are. It is what is left of a DWARF CFI row
// once everything but sp/fp/ra is dropped (the unwinder only tracks pc, sp, fp and lr), in the
// spirit of framehop's rule enums and the OpenTelemetry profiler's "stack deltas".
//
// Applying a rule (unwinder's side, caller's registers from the callee's):
//   cfa       = sp + cfa_offset                                   (kSpOffset)
//             = fp + cfa_offset                                   (kFpOffset)
//             = sp + cfa_offset + ((pc & 15) >= plt_threshold ? 8 : 0)   (kPltExpression)
//   caller sp = cfa
//   caller ra = [cfa + ra_offset] if kAtCfaOffset; lr if kUnchanged (aarch64 leaf code;
//               meaningless on x86-64, where the RA column is no register); none if kUndefined
//   caller fp = [cfa + fp_offset] if kAtCfaOffset; fp if kUnchanged
// Register numbers are DWARF's; the RA register is the CIE's return-address column.
#pragma once
#include <cstdint>
#include <type_traits>

namespace stackshot {

enum class CfiArch : uint8_t { kX86_64, kAarch64 };

// DWARF register numbers the rule is about.
struct CfiRegisters {
  uint16_t sp;
  uint16_t fp;
  uint16_t ra;  // the usual return-address column (a CIE may name another)
};

constexpr CfiRegisters cfi_registers(CfiArch arch) {
  // x86-64 psABI: rbp=6, rsp=7, return address column 16. AAPCS64: x29=29, x30=30, sp=31.
  return arch == CfiArch::kX86_64 ? CfiRegisters{7, 6, 16} : CfiRegisters{31, 29, 30};
}

enum class CfaKind : uint8_t {
  kSpOffset,
  kFpOffset,
  kPltExpression,  // gcc/ld's x86-64 .plt expression (see above)
  kUnsupported,    // another base register, any other expression, or no CFA rule at all
};

enum class RegRuleKind : uint8_t {
  kUnchanged,    // DW_CFA_same_value, or no rule: the caller's value is the callee's
  kAtCfaOffset,  // saved in memory at cfa + offset
  kUndefined,    // DW_CFA_undefined: for the RA, the outermost frame (_start, clone3)
  kUnsupported,  // in another register, val_offset, an expression …
};

struct UnwindRule {
  int32_t cfa_offset = 0;
  int32_t ra_offset = 0;  // relative to the CFA, when ra_kind == kAtCfaOffset
  int32_t fp_offset = 0;  // relative to the CFA, when fp_kind == kAtCfaOffset
  CfaKind cfa_kind = CfaKind::kUnsupported;
  RegRuleKind ra_kind = RegRuleKind::kUnsupported;
  RegRuleKind fp_kind = RegRuleKind::kUnsupported;
  uint8_t plt_threshold = 0;  // kPltExpression only: (pc & 15) from which 8 more bytes are pushed
  bool ra_signed = false;     // aarch64: RA carries a PAC signature (DW_CFA_AARCH64_negate_ra_state)
  bool signal_frame = false;  // CIE augmentation 'S': a signal trampoline, pc is not a return address

  bool operator==(const UnwindRule& o) const {
    return cfa_offset == o.cfa_offset && ra_offset == o.ra_offset && fp_offset == o.fp_offset &&
           cfa_kind == o.cfa_kind && ra_kind == o.ra_kind && fp_kind == o.fp_kind && plt_threshold == o.plt_threshold &&
           ra_signed == o.ra_signed && signal_frame == o.signal_frame;
  }
  bool operator!=(const UnwindRule& o) const { return !(*this == o); }
};

static_assert(std::is_trivially_copyable<UnwindRule>::value, "UnwindRule is copied around freely");
static_assert(sizeof(UnwindRule) == 20, "keep UnwindRule small: it is cached per address range");

}  // namespace stackshot
