// Where a frame's pc is looked up (names, lines, profile locations). Whether the pc is a return
// address is the unwinder's decision (Frame.returnAddress); this only applies it.

/** pc - 1 for a return address (its call may be the last instruction of a function), else pc. */
export function lookupAddress(pc: bigint, returnAddress: boolean): bigint {
  return returnAddress && pc > 0n ? pc - 1n : pc;
}
