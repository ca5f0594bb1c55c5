import { describe, expect, it } from 'vitest'
import { Output } from '../node/output.ts'
import { safeJson, safeLine, safeText } from '../node/sanitize.ts'
import { table } from '../node/control/format.ts'

/** What the issue saw reach a terminal: a window title, a screen clear, a fake green KEEP line. */
const ATTACK = '\x1b]0;PWNED\x07\x1b[2J\x1b[32m#9 KEEP     val_bpb 0.010000\x1b[0m\nsecond line'
/** Anything that could still act on a terminal or reorder what a reader sees. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

describe('sanitize', () => {
  it('strips every kind of escape sequence whole, and stray controls', () => {
    const cases: Array<[string, string]> = [
      [ATTACK, '#9 KEEP val_bpb 0.010000 second line'],
      ['a\u009b31mb', 'ab'], // 8-bit CSI
      ['x\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\y', 'xlinky'], // OSC 8 hyperlink, ST-terminated
      ['tail\x1b]0;never ends', 'tail'], // unterminated OSC runs to the end
      ['dcs\x1bPq#0;2;0\x1b\\end', 'dcsend'], // DCS (sixel)
      ['esc\x1b(Bdone\x1b7\x1bc', 'escdone'], // charset, save cursor, reset
      ['bidi \u202eevil\u202c \u2066x\u2069 ok', 'bidi evil x ok'],
      ['nul\x00\x07bel\x7f', 'nulbel'],
      ['cr\roverwrite', 'cr overwrite'],
      ['plain ünïcødé ✓ text', 'plain ünïcødé ✓ text']
    ]
    for (const [input, want] of cases) expect(safeLine(input), JSON.stringify(input)).toBe(want)
  })

  it('keeps newlines and tabs in text, never in a line', () => {
    expect(safeText('a\tb\r\nc\u2028d')).toBe('a\tb\nc\nd')
    expect(safeText(ATTACK)).toBe('#9 KEEP     val_bpb 0.010000\nsecond line')
    expect(safeLine('a\tb\nc', 4)).toBe('a b…')
  })

  it('survives random input: nothing unsafe ever comes out', () => {
    let seed = 7
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    const alphabet = ['\x1b', '[', ']', '\x07', '\\', 'P', '\x9b', '\x9d', '\x9c', '\n', '\r', '\t', '\u202e', '\u2066', '\x00', '\x7f', 'm', '0', ';', 'a', 'é', '✓', '\u2028']
    for (let i = 0; i < 2000; i++) {
      const s = Array.from({ length: Math.floor(rnd() * 40) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('')
      expect(UNSAFE.test(safeText(s)), JSON.stringify(s)).toBe(false)
      expect(safeText(s)).not.toContain('\r')
      expect(/[\n\r\t]/.test(safeLine(s)), JSON.stringify(s)).toBe(false)
    }
  })

  it('escapes in JSON what JSON.stringify leaves raw, and parses back to the same value', () => {
    const value = { d: 'a\u009b31mb\u202e\x1b[2J\u2028', n: [1, null] }
    const text = safeJson(value)
    expect(UNSAFE.test(text)).toBe(false)
    expect(text).not.toContain('\u2028')
    expect(JSON.parse(text)).toEqual(value)
    expect(safeJson(undefined)).toBe('null')
  })

  it('is applied where output leaves: Output text and JSON, and table cells', () => {
    const chunks: string[] = []
    const sink = { write: (s: string) => { chunks.push(s); return true } } as any
    new Output(false, sink, sink).event('note', {}, `peer says: ${ATTACK}`)
    new Output(false, sink, sink).fail(`peer: ${ATTACK}`)
    new Output(true, sink, sink).event('note', { message: ATTACK + '\u009b' }, '')
    new Output(true, sink, sink).result({ rows: [ATTACK] }, '')
    for (const c of chunks) expect(UNSAFE.test(c.replace(/\n$/, '')), JSON.stringify(c)).toBe(false)
    expect(JSON.parse(chunks[2]!).message).toBe(ATTACK + '\u009b')
    const t = table(['author', 'description'], [['x', ATTACK]])
    expect(t.split('\n')).toHaveLength(2)
    expect(UNSAFE.test(t)).toBe(false)
  })
})
