/**
 * Text from peers, runs and LLMs made safe to show. Applied where text leaves
 * the node (terminal, log lines, the control API), never where it arrives: a
 * signed message keeps its exact bytes so its signature still verifies.
 *
 * What goes: every terminal escape sequence whole (CSI `ESC [ … m`, OSC
 * `ESC ] … BEL` window titles and hyperlinks, DCS/SOS/PM/APC strings, the
 * two-byte ESC forms, and their 8-bit C1 spellings), then any C0/C1 control
 * character and DEL that is left, and the bidi overrides and isolates that
 * reorder what a reader sees (Trojan Source). A line may keep tabs; text may
 * keep newlines; nothing else survives.
 *
 * @example
 * ```ts
 * safeLine('\x1b]0;PWNED\x07\x1b[2J\x1b[32mKEEP\x1b[0m\nx')  // 'KEEP x'
 * safeJson({ d: 'a\u009b31mb' })                              // '{"d":"a\\u009b31mb"}'
 * ```
 */

/* eslint-disable no-control-regex */
/** Escape sequences, 7-bit and 8-bit; an unterminated string sequence runs to the end of the text. */
const SEQUENCES = new RegExp([
  // OSC and DCS/SOS/PM/APC strings, ended by BEL (OSC) or ST (ESC \ or 0x9c).
  '(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[\\s\\S]*?(?:\\x07|\\x1b\\\\|\\x9c|$)',
  // CSI: parameters, intermediates, one final byte.
  '(?:\\x1b\\[|\\x9b)[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]?',
  // Every other escape: intermediates then a final byte (ESC c, ESC ( B, ESC 7 …).
  '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]?'
].join('|'), 'g')
/** Left after the sequences are gone: C0 but tab and newline, DEL, C1, and bidi controls. */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g
/** Outside JSON's own escapes, what a terminal or a bidi-aware viewer would still act on. */
const JSON_UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
/* eslint-enable no-control-regex */

/** Text that may span lines: newlines and tabs stay, CRLF becomes LF, everything else above goes. */
export function safeText (s: string): string {
  return String(s)
    .replace(SEQUENCES, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[\u2028\u2029]/g, '\n')
    .replace(CONTROLS, '')
}

/**
 * One line: as `safeText`, then line breaks and tabs become single spaces, so a
 * peer cannot start a line of its own (a fake `KEEP` under ours). Cut to `max`
 * code units with an ellipsis when longer.
 */
export function safeLine (s: string, max = Infinity): string {
  const line = safeText(s).replace(/\s+/g, ' ').trim()
  return line.length <= max ? line : line.slice(0, Math.max(0, max - 1)) + '…'
}

/**
 * JSON for a terminal or a browser: JSON.stringify already escapes C0, but
 * leaves C1 controls (0x9b is CSI to many terminals), DEL, bidi controls and
 * the JS line separators raw. Those are escaped as \uXXXX, so the document
 * parses to exactly the same value.
 */
export function safeJson (value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? 'null').replace(JSON_UNSAFE, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
