import type { ExecResult } from '../../common/sandbox.js';

/**
 * Collects one output stream of a command, keeping at most `maxBytes` and only counting the rest,
 * so a command that prints gigabytes costs no more memory than the cap. Memory is taken as output
 * arrives: reserving the cap up front cost every exec two zeroed megabytes, and the garbage
 * collections they brought, however little it printed.
 */
export class OutputCap {
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private seenBytes = 0;

  constructor(readonly maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a whole number >= 0, got ${maxBytes}`);
  }

  push(chunk: Uint8Array): void {
    this.seenBytes += chunk.length;
    const room = this.maxBytes - this.keptBytes;
    if (room <= 0 || chunk.length === 0) return;
    const take = Math.min(room, chunk.length);
    // A copy: the caller may reuse its buffer.
    this.kept.push(Buffer.from(chunk.subarray(0, take)));
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
    const kept = this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept, this.keptBytes);
    const end = this.truncated ? utf8SafeEnd(kept, this.keptBytes) : this.keptBytes;
    return kept.toString('utf8', 0, end);
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

/**
 * Trims the longer stream first so stdout + stderr take at most `limit` bytes as JSON, which is how
 * they travel (a control character costs 6, a replaced invalid byte 3); marks the result truncated.
 */
export function capCombinedOutput(result: ExecResult, limit: number): ExecResult {
  // Counted only as far as the limit: past it the exact size changes nothing (a megabyte costs ~3 ms to count).
  const outBytes = jsonTextBytes(result.stdout, limit);
  const errBytes = jsonTextBytes(result.stderr, limit);
  if (outBytes + errBytes <= limit) return result;
  const errKeep = Math.min(errBytes, Math.max(Math.floor(limit / 2), limit - outBytes));
  const outKeep = limit - errKeep;
  return {
    ...result,
    stdout: fitJsonText(result.stdout, outKeep),
    stderr: fitJsonText(result.stderr, errKeep),
    truncated: true,
  };
}

/** Bytes `text` takes inside a JSON string (quotes excluded), UTF-8 encoded; past `atMost`, some number above it. */
export function jsonTextBytes(text: string, atMost = Infinity): number {
  return jsonPrefix(text, atMost).bytes;
}

/** The longest start of `text` that takes at most `maxBytes` inside a JSON string; never splits a character. */
export function fitJsonText(text: string, maxBytes: number): string {
  const { length } = jsonPrefix(text, maxBytes);
  return length === text.length ? text : text.slice(0, length);
}

/** A character JSON does not write as one byte, other than the common two-byte escapes. */
const NOT_PLAIN_ASCII = /[^\x20-\x7e\n\t]/;

/** Occurrences of `char` in `text`. */
function count(text: string, char: string): number {
  let n = 0;
  for (let i = text.indexOf(char); i !== -1; i = text.indexOf(char, i + 1)) n++;
  return n;
}

/** The longest start of `text` within `maxBytes` as JSON, and its bytes (the bytes up to the first that does not fit, when one does not). */
function jsonPrefix(text: string, maxBytes: number): { length: number; bytes: number } {
  // Most output is printable ASCII and line breaks: counted by native scans, a megabyte takes about
  // a millisecond, against three a character at a time.
  if (text.length <= maxBytes && !NOT_PLAIN_ASCII.test(text)) {
    const bytes = text.length + count(text, '\n') + count(text, '\t') + count(text, '"') + count(text, '\\');
    if (bytes <= maxBytes) return { length: text.length, bytes };
  }
  let bytes = 0;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    const pair = c >= 0xd800 && c < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const cost = pair ? 4 : jsonCharBytes(c);
    if (bytes + cost > maxBytes) return { length: i, bytes: bytes + cost };
    bytes += cost;
    i += pair ? 2 : 1;
  }
  return { length: text.length, bytes };
}

/** JSON.stringify's escapes: \" \\ and \n-style take 2, other controls and lone surrogates \uXXXX (6). */
function jsonCharBytes(c: number): number {
  if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) return 2;
  if (c < 0x20) return 6;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c < 0xe000) return 6;
  return 3;
}
