/**
 * The gate every candidate passes before it is committed and run, whoever wrote
 * it (mutation, LLM, external agent, a stranger's adopted result): only editable
 * files, bounded text, a real change.
 */

export const MAX_EDITABLE_BYTES = 256 * 1024

export class CandidateRejected extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CandidateRejected'
  }
}

/** Returns the full editable file set after applying `changes`, or throws CandidateRejected. */
export function checkCandidate (baseline: Record<string, string>, changes: Record<string, string>, editable: string[]): Record<string, string> {
  const paths = Object.keys(changes)
  if (paths.length === 0) throw new CandidateRejected('the proposal changes no file')
  const outside = paths.filter(p => !editable.includes(p))
  if (outside.length > 0) throw new CandidateRejected(`the proposal touches files that are not editable: ${outside.join(', ')} (editable: ${editable.join(', ')})`)
  for (const p of paths) {
    const text = changes[p]!
    if (typeof text !== 'string') throw new CandidateRejected(`${p}: content is not text`)
    if (text.includes('\0')) throw new CandidateRejected(`${p}: content holds a NUL byte`)
    const bytes = Buffer.byteLength(text, 'utf8')
    if (bytes > MAX_EDITABLE_BYTES) throw new CandidateRejected(`${p}: ${bytes} bytes is over the ${MAX_EDITABLE_BYTES}-byte limit for an editable file`)
    if (text.trim() === '') throw new CandidateRejected(`${p}: the proposal empties the file`)
  }
  const next = { ...baseline, ...changes }
  if (paths.every(p => baseline[p] === changes[p])) throw new CandidateRejected('the proposal is identical to the baseline')
  return next
}
