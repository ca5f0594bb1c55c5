/**
 * A peer's result as this node's baseline with no run here, and the check
 * that follows it (verify by use): the I/O beside trainer/adopted.ts's pure
 * rule of where an adopted baseline stands.
 */
import { contentHash, figureOf } from '../protocol/index.ts'
import { useCheck } from './adopted.ts'
import { refusal } from './admission.ts'
import { checkCandidate } from './check.ts'
import { claimHolds } from './decide.ts'
import type { Adoption, LoopOptions } from './loop.ts'
import { marginInForce } from './noise.ts'
import type { ExperimentOrigin, ExperimentRecord } from './results-log.ts'
import { append, baseRecord, nextSeq, recordFields, runOnce } from './steps.ts'

/**
 * A peer's result taken as our baseline with no run here, on evidence this
 * node's trust accepts (the inbox's call). The content still passes the
 * project's policy (it is code this node did not write, and every candidate
 * built on it runs in the sandbox); the loop verifies it by use afterwards.
 * Returns false when it was refused.
 */
export async function adopt (o: LoopOptions, a: Extract<Adoption, { kind: 'adopt' }>): Promise<boolean> {
  const s = o.session
  const ws = s.workspace
  const files = checkCandidate(s.baseline.files, a.files, s.project.manifest.editable)
  const refused = refusal({ proposer: 'adopt', adopted: true, baseline: s.baseline.files, candidate: files, policy: s.project.manifest.policy, sandbox: s.sandbox })
  if (refused != null) {
    o.onEvent({ type: 'log', level: 'warn', message: `not adopted: ${refused}` })
    return false
  }
  const before = s.baseline.value
  const origin: ExperimentOrigin = { ...a.origin, how: 'adopt' }
  await ws.writeEditable(files)
  const commit = await ws.commitCandidate(`${a.description}\n\nswarm-node adoption on ${ws.branch}, with no run here: ${origin.evidence ?? 'evidence'}\n` +
    `Adopted-From-Peer: ${origin.author}\nAdopted-Result: ${origin.result}\nClaimed-Val-Bpb: ${origin.claimed ?? 'none'}\nAdopted-At-Val-Bpb: ${a.figure}`)
  const diff = await ws.diff(s.baseline.commit, commit)
  const seq = nextSeq(s)
  const now = Date.now()
  const rec: ExperimentRecord = {
    ...baseRecord(s, seq, now), commit, parent: s.baseline.commit, status: 'adopted', description: a.description, proposer: 'adopt',
    child: contentHash(files), parent_content: s.baseline.content, val_bpb: null, verified_bpb: null, memory_gb: 0, reason: '', metrics: {},
    decision_bpb: a.figure, baseline_bpb: before, margin: marginInForce(s).margin, origin
  }
  s.baseline = { commit, files, content: rec.child!, value: a.figure, record: rec }
  await append(o, rec, diff, files, before)
  return true
}

/**
 * Verify by use: when the first experiment on a baseline adopted with no run
 * landed far worse than the figure it was adopted at, run the baseline itself
 * once. The claim holds: our measurement becomes its figure. It fails: back to
 * the baseline we had before (the service attests the failure either way, by
 * the claim rule). Returns false when aborted.
 */
export async function verifyByUse (o: LoopOptions): Promise<boolean> {
  const s = o.session
  const margin = marginInForce(s).margin
  const check = useCheck(s.history, s.baseline, margin)
  if (check.state !== 'suspect') return true
  const { adopted, first } = check
  const claimed = figureOf(adopted)
  o.onEvent({ type: 'log', level: 'warn', message: `the first experiments on the adopted baseline measured ${first.map(r => figureOf(r)?.toFixed(4)).join(' and ')}, far from the ${claimed?.toFixed(4)} it was adopted at: re-measuring the baseline` })
  const seq = nextSeq(s)
  const startedAt = Date.now()
  const origin: ExperimentOrigin = { ...adopted.origin!, how: 'verify' }
  const description = `re-measure the adopted baseline: ${adopted.description}`.slice(0, 300)
  o.onEvent({ type: 'experiment-start', seq, kind: 'baseline', description, child: s.baseline.content, origin })
  const m = await runOnce(o, seq, 'baseline')
  if (m.status === 'aborted') return false
  const holds = m.status === 'ok' && claimHolds(claimed, m.value, margin)
  const before = s.baseline.value
  const rec: ExperimentRecord = {
    ...baseRecord(s, seq, startedAt), commit: s.baseline.commit, parent: s.baseline.commit,
    status: holds ? 'baseline' : m.status === 'ok' ? 'discard' : m.status === 'invalid' ? 'invalid' : 'crash',
    description, proposer: 'verify', child: s.baseline.content, parent_content: s.baseline.content, ...recordFields(m),
    decision_bpb: m.value, baseline_bpb: claimed, margin, origin
  }
  if (holds) {
    s.baseline.value = m.value
    s.baseline.record = rec
    await append(o, rec, '', s.baseline.files, before)
    return true
  }
  await append(o, rec, '', s.baseline.files, before)
  // The claim failed here: back to the baseline this node had before it, and its figure.
  const ws = s.workspace
  await ws.resetTo(adopted.parent)
  const files = await ws.readEditable()
  const back: ExperimentRecord = {
    ...baseRecord(s, nextSeq(s), Date.now()), commit: adopted.parent, parent: adopted.commit, status: 'restored',
    description: `back to the baseline before "${adopted.description}": it measured ${m.value?.toFixed(4) ?? m.status} here, not the ${claimed?.toFixed(4)} claimed`.slice(0, 300),
    proposer: 'verify', child: contentHash(files), parent_content: adopted.child, val_bpb: null, verified_bpb: null, memory_gb: 0, reason: '', metrics: {},
    decision_bpb: adopted.baseline_bpb ?? null, baseline_bpb: claimed, margin
  }
  s.baseline = { commit: adopted.parent, files, content: back.child!, value: back.decision_bpb ?? null, record: back }
  await append(o, back, '', files, claimed)
  return true
}
