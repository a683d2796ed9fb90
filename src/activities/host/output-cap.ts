/**
 * Collects one output stream of a command, keeping at most `maxBytes` and only counting the rest,
 * so a command that prints gigabytes costs no more memory than the cap.
 */
export class OutputCap {
  private readonly kept: Buffer;
  private keptBytes = 0;
  private seenBytes = 0;

  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a whole number >= 0, got ${maxBytes}`);
    this.kept = Buffer.alloc(maxBytes);
  }

  push(chunk: Uint8Array): void {
    this.seenBytes += chunk.length;
    const room = this.maxBytes - this.keptBytes;
    if (room <= 0) return;
    const take = Math.min(room, chunk.length);
    this.kept.set(take === chunk.length ? chunk : chunk.subarray(0, take), this.keptBytes);
    this.keptBytes += take;
  }

  get totalBytes(): number {
    return this.seenBytes;
  }

  get truncated(): boolean {
    return this.seenBytes > this.keptBytes;
  }

  /** The kept bytes as UTF-8; a character cut in half by the cap is dropped, not mangled. */
  text(): string {
    const end = this.truncated ? utf8SafeEnd(this.kept, this.keptBytes) : this.keptBytes;
    return this.kept.toString('utf8', 0, end);
  }
}

/** The largest end <= `length` that does not split a multibyte UTF-8 sequence. */
export function utf8SafeEnd(bytes: Uint8Array, length: number): number {
  // A sequence is at most 4 bytes: look back at most 3 continuation bytes for its lead byte.
  for (let lead = length - 1; lead >= 0 && lead >= length - 4; lead--) {
    const byte = bytes[lead]!;
    if ((byte & 0xc0) === 0x80) continue;
    return lead + sequenceLength(byte) > length ? lead : length;
  }
  return length;
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) === 0xc0) return 2;
  if ((lead & 0xf0) === 0xe0) return 3;
  if ((lead & 0xf8) === 0xf0) return 4;
  return 1; // not a valid lead byte: let the decoder replace it
}
