/** A packet that breaks the protocol: the connection closes, a v5 client told `reason` (§4.13). */
export class ProtocolViolation extends Error {
  readonly reason: number;
  constructor(reason: number, message: string) {
    super(message);
    this.reason = reason;
  }
}
