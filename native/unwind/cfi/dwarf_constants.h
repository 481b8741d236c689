// DWARF constants used by the CFI reader: pointer encodings (DW_EH_PE_*, LSB spec),
// call-frame instructions (DW_CFA_*, DWARF 5 §6.4.2) and the few expression opcodes (DW_OP_*)
// needed to recognise the x86-64 PLT CFA expression.
#pragma once
#include <cstdint>

namespace stackshot {
namespace dw {

// Pointer encodings: low nibble = value format, bits 4-6 = base, bit 7 = indirect.
constexpr uint8_t kPeAbsptr = 0x00;
constexpr uint8_t kPeUleb128 = 0x01;
constexpr uint8_t kPeUdata2 = 0x02;
constexpr uint8_t kPeUdata4 = 0x03;
constexpr uint8_t kPeUdata8 = 0x04;
constexpr uint8_t kPeSigned = 0x08;  // DW_EH_PE_signed: absptr-sized signed value
constexpr uint8_t kPeSleb128 = 0x09;
constexpr uint8_t kPeSdata2 = 0x0a;
constexpr uint8_t kPeSdata4 = 0x0b;
constexpr uint8_t kPeSdata8 = 0x0c;
constexpr uint8_t kPeFormatMask = 0x0f;

constexpr uint8_t kPePcrel = 0x10;
constexpr uint8_t kPeTextrel = 0x20;
constexpr uint8_t kPeDatarel = 0x30;
constexpr uint8_t kPeFuncrel = 0x40;
constexpr uint8_t kPeAligned = 0x50;
constexpr uint8_t kPeBaseMask = 0x70;

constexpr uint8_t kPeIndirect = 0x80;
constexpr uint8_t kPeOmit = 0xff;

// Call-frame instructions. The first three carry an operand in their low 6 bits.
constexpr uint8_t kCfaAdvanceLoc = 0x40;
constexpr uint8_t kCfaOffset = 0x80;
constexpr uint8_t kCfaRestore = 0xc0;
constexpr uint8_t kCfaHighMask = 0xc0;
constexpr uint8_t kCfaLowMask = 0x3f;

constexpr uint8_t kCfaNop = 0x00;
constexpr uint8_t kCfaSetLoc = 0x01;
constexpr uint8_t kCfaAdvanceLoc1 = 0x02;
constexpr uint8_t kCfaAdvanceLoc2 = 0x03;
constexpr uint8_t kCfaAdvanceLoc4 = 0x04;
constexpr uint8_t kCfaOffsetExtended = 0x05;
constexpr uint8_t kCfaRestoreExtended = 0x06;
constexpr uint8_t kCfaUndefined = 0x07;
constexpr uint8_t kCfaSameValue = 0x08;
constexpr uint8_t kCfaRegister = 0x09;
constexpr uint8_t kCfaRememberState = 0x0a;
constexpr uint8_t kCfaRestoreState = 0x0b;
constexpr uint8_t kCfaDefCfa = 0x0c;
constexpr uint8_t kCfaDefCfaRegister = 0x0d;
constexpr uint8_t kCfaDefCfaOffset = 0x0e;
constexpr uint8_t kCfaDefCfaExpression = 0x0f;
constexpr uint8_t kCfaExpression = 0x10;
constexpr uint8_t kCfaOffsetExtendedSf = 0x11;
constexpr uint8_t kCfaDefCfaSf = 0x12;
constexpr uint8_t kCfaDefCfaOffsetSf = 0x13;
constexpr uint8_t kCfaValOffset = 0x14;
constexpr uint8_t kCfaValOffsetSf = 0x15;
constexpr uint8_t kCfaValExpression = 0x16;
constexpr uint8_t kCfaGnuWindowSave = 0x2d;  // on aarch64: DW_CFA_AARCH64_negate_ra_state
constexpr uint8_t kCfaGnuArgsSize = 0x2e;
constexpr uint8_t kCfaGnuNegativeOffsetExtended = 0x2f;

// Expression opcodes of the PLT pattern.
constexpr uint8_t kOpLit0 = 0x30;  // DW_OP_lit0 … DW_OP_lit31 = 0x30 … 0x4f
constexpr uint8_t kOpLit31 = 0x4f;
constexpr uint8_t kOpConst1u = 0x08;
constexpr uint8_t kOpBreg0 = 0x70;  // DW_OP_breg0 … DW_OP_breg31 = 0x70 … 0x8f
constexpr uint8_t kOpAnd = 0x1a;
constexpr uint8_t kOpGe = 0x2a;
constexpr uint8_t kOpShl = 0x24;
constexpr uint8_t kOpPlus = 0x22;

}  // namespace dw
}  // namespace stackshot
