/**
 * Characters a terminal acts on or that reorder what follows: C0 and C1 controls, DEL, bidi
 * controls and line separators. A name or path from a caller or a sandbox may hold any of them.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with every such character written as an escape (\n, \u001b), safe to print. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
