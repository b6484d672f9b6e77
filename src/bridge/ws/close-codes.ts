/** WebSocket close codes the bridge uses, named for why. */
export const CLOSE = {
  normal: 1000,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  serviceRestart: 1012,
  tryAgainLater: 1013,
  /** The legacy gateway's close of a device whose token was rotated or revoked, or which was removed. */
  deviceRemoved: 4001,
} as const;

/** Longest close reason legacy clients expect (the WebSocket limit is 123 bytes). */
export const MAX_CLOSE_REASON_BYTES = 120;

/** Cuts a close reason to 120 bytes of UTF-8 without splitting a character. */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason, 'utf8') <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > MAX_CLOSE_REASON_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}
