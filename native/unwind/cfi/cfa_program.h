// Execution of DWARF call-frame instructions (DWARF 5 §6.4.2): the CIE's initial instructions,
// then the FDE's, producing the rows of the unwind table. Only the columns the unwinder can use
// are tracked (CFA, the return-address column, the frame-pointer register, and aarch64's RA
// signing state); instructions about other registers are decoded and skipped.
//
// Bounds: at most kMaxCfaInstructions instructions per program and kMaxRememberDepth nested
// DW_CFA_remember_state, so hostile input costs bounded time and no allocation here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "unwind/cfi/eh_frame.h"
#include "unwind/cfi/unwind_rule.h"

namespace stackshot {

constexpr size_t kMaxCfaInstructions = size_t{1} << 18;
constexpr size_t kMaxRememberDepth = 64;

enum class DwarfRuleKind : uint8_t {
  kUnspecified,  // no instruction mentioned the register (in effect: same value)
  kSameValue,
  kUndefined,
  kOffset,     // saved at CFA + value
  kValOffset,  // value is CFA + value
  kRegister,   // in register `value`
  kExpression,
  kValExpression,
};

struct DwarfRegRule {
  DwarfRuleKind kind = DwarfRuleKind::kUnspecified;
  int64_t value = 0;  // offset (data alignment applied) or register number
};

enum class CfaRuleKind : uint8_t {
  kUnset,          // no DW_CFA_def_cfa yet
  kRegOffset,      // reg + offset
  kPltExpression,  // x86-64 .plt: rsp + plt_offset + ((rip & 15) >= plt_threshold ? 8 : 0)
  kExpression,     // any other DW_CFA_def_cfa_expression
};

struct CfaRule {
  CfaRuleKind kind = CfaRuleKind::kUnset;
  // reg/offset survive a DW_CFA_def_cfa_expression, as in readelf and libgcc, so that a later
  // DW_CFA_def_cfa_register (invalid after an expression, but seen) behaves the same.
  uint64_t reg = 0;
  int64_t offset = 0;
  int64_t plt_offset = 0;
  uint8_t plt_threshold = 0;
};

// One row of the table, restricted to the tracked columns.
struct CfaRow {
  CfaRule cfa;
  DwarfRegRule ra;  // the CIE's return-address column
  DwarfRegRule fp;  // rbp / x29
  bool ra_signed = false;
};

enum class CfaStatus : uint8_t {
  kOk,
  kTruncated,       // an operand runs past the instructions
  kBadOpcode,       // unknown or not valid for the architecture
  kBadLocation,     // DW_CFA_set_loc backwards or undecodable, or a location overflow
  kStateOverflow,   // DW_CFA_remember_state nested deeper than kMaxRememberDepth
  kStateUnderflow,  // DW_CFA_restore_state without a remembered state
  kTooManyInstructions,
};

const char* cfa_status_name(CfaStatus status);

// Receives rows in increasing pc order; return false to stop the program early.
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual bool row(uint64_t pc, const CfaRow& row) = 0;
};

// Runs the program of `fde` (with its `cie`) from `section`. Calls sink->row(pc, row) once for
// each location where a row starts: first at fde.pc_begin, then at every location the
// instructions advance to that is <= stop_pc and < fde.pc_end (consecutive rows may be equal).
// On an error the rows before the failing instruction's location have been emitted, *error_pc
// is that location, and nothing is known from there to the end of the FDE.
CfaStatus run_cfa_program(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch,
                          uint64_t stop_pc, RowSink* sink, uint64_t* error_pc);

// The row in effect at pc (pc within the FDE). Returns kOk and fills *row, or the error.
CfaStatus cfa_row_at(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch, uint64_t pc,
                     CfaRow* row);

// Reduces a row to the unwinder's compact rule.
UnwindRule compact_rule(const CfaRow& row, CfiArch arch, bool signal_frame);

// The rule for addresses whose CFI could not be interpreted.
UnwindRule unsupported_rule(bool signal_frame);

}  // namespace stackshot
