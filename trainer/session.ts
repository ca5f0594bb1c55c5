/**
 * Everything the loop needs, set up once per start: the project and its id, a
 * Python that can import torch, the hardware and track, the prepared data, the
 * git workspace, the results log, and the baseline to resume from.
 */
import { join } from 'node:path'
import { contentHash, figureOf } from '../protocol/index.ts'
import { BASELINE_STATUSES } from './adopted.ts'
import { detectHardware, trackFor, type Hardware } from './hardware.ts'
import { loadProject, type Project } from './project.ts'
import { findPython, pythonRoots, substitutePython } from './python.ts'
import { ResultsLog, type ExperimentRecord } from './results-log.ts'
import { runCommand, classifyOutcome } from './runner.ts'
import { EXPERIMENTS_FILE, runDir, writeRunInfo } from './run-info.ts'
import { ProjectSandbox, Sandbox } from './sandbox/index.ts'
import { brownCorpusDir, templateEnv } from './template.ts'
import { Workspace } from './workspace.ts'
import { runEnv } from './measure.ts'
import { captureMeasurementData, measurementDir, type MeasurementData } from './measure-data.ts'

export interface Baseline {
  commit: string
  files: Record<string, string>
  content: string
  /** The figure candidates must beat; null until the baseline run is done. */
  value: number | null
  record: ExperimentRecord | null
}

export interface Session {
  project: Project
  python: string
  hardware: Hardware
  track: string
  workspace: Workspace
  log: ResultsLog
  runTag: string
  env: Record<string, string>
  history: ExperimentRecord[]
  baseline: Baseline
  /** The cage every run of this project goes through. */
  sandbox: ProjectSandbox
  /** The node's own copy of the validation data the project's models are verified with; null without ONNX. */
  measureData: MeasurementData | null
}

export interface SessionOptions {
  projectDir: string
  home: string
  runTag: string
  budgetS?: number
  /** Commit the user's uncommitted changes to the project on the experiment branch (--commit-changes). */
  commitChanges?: boolean
  signal?: AbortSignal
  onLog?: (message: string) => void
  /** The node's sandbox (default: probed here, with the node home hidden). */
  sandbox?: Sandbox
}

export class SetupError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SetupError'
  }
}

async function prepare (project: Project, python: string, env: Record<string, string>, sandbox: ProjectSandbox, signal?: AbortSignal): Promise<void> {
  const m = project.manifest
  if (m.prepare == null) return
  const command = substitutePython(m.prepare, python)
  const runEnvironment = runEnv(m, env)
  // The only launch that may write the data; every run after it sees the data read-only.
  const launch = await sandbox.launch({ profile: 'prepare', command, cwd: project.dir, env: runEnvironment, readOnly: [brownCorpusDir()].filter((d): d is string => d != null) })
  const outcome = await runCommand({
    command,
    cwd: project.dir,
    env: runEnvironment,
    timeoutS: 3600,
    logPath: join(project.dir, 'prepare.log'),
    signal,
    launch
  })
  const c = classifyOutcome({ ...outcome, summary: { ok: 1 } }, 'ok')
  if (c.kind !== 'ok') throw new SetupError(`prepare step \`${m.prepare}\` failed (${c.reason}); see ${join(project.dir, 'prepare.log')}:\n${outcome.tail.slice(-1500)}`)
}

/** Last record of this branch that set the baseline (trainer/adopted.ts): where a restarted node resumes from. */
export function resumePoint (history: ExperimentRecord[], branch: string): ExperimentRecord | null {
  for (let i = history.length - 1; i >= 0; i--) {
    const r = history[i]!
    if (r.branch === branch && BASELINE_STATUSES.has(r.status)) return r
  }
  return null
}

export async function openSession (opts: SessionOptions): Promise<Session> {
  const say = opts.onLog ?? (() => {})
  // The manifest is read first so the workspace knows which files are outputs.
  const first = await loadProject(opts.projectDir, { budgetS: opts.budgetS })
  const workspace = await Workspace.open({ dir: opts.projectDir, editable: first.manifest.editable, outputs: first.manifest.outputs, runTag: opts.runTag, commitChanges: opts.commitChanges })
  if (workspace.recovered.length > 0) say(`workspace recovered: ${workspace.recovered.join('; ')}`)
  for (const note of workspace.notes) say(note)
  // Recompute after the workspace is set up: ids must not depend on what git added.
  const project = await loadProject(opts.projectDir, { budgetS: opts.budgetS })

  // Only projects whose commands say {python} need us to find one (autoresearch uses `uv run`).
  const m = project.manifest
  const needsPython = [m.run, m.prepare ?? ''].some(c => c.includes('{python}'))
  const py = needsPython ? await findPython({ preferred: m.python ?? undefined }) : { path: m.python ?? 'python3' }
  const [hardware, roots] = await Promise.all([detectHardware(), pythonRoots(py.path, project.dir)])
  const env = templateEnv()
  const node = opts.sandbox ?? await Sandbox.open({ home: opts.home })
  const sandbox = new ProjectSandbox(node, { dir: project.dir, manifest: m, python: roots })
  let measureData: MeasurementData | null
  try {
    await prepare(project, py.path, env, sandbox, opts.signal)
    measureData = m.onnx == null ? null : await captureMeasurementData(project.dir, m.onnx, measurementDir(opts.home, project.id))
  } catch (err) {
    // A project whose prepare step fails leaves nothing committed behind: the user fixes it and starts again.
    const undone = await workspace.abandonSetup().catch(() => null)
    if (undone != null && err instanceof Error) err.message += `\n${undone}`
    throw err
  }

  const log = new ResultsLog({ tsvPath: join(project.dir, 'results.tsv'), jsonlPath: join(runDir(opts.home, project.id), EXPERIMENTS_FILE) })
  await writeRunInfo(opts.home, { id: project.id, name: m.name, dir: project.dir, budget_s: m.budget_s })
  const history = await log.readAll()
  const resume = resumePoint(history, workspace.branch)
  let head = await workspace.head()
  // Changes the user had us commit are a new baseline to measure, not an unrecorded candidate.
  if (resume != null && resume.commit !== head && !workspace.committedChanges) {
    if (await workspace.isAncestor(resume.commit, head).catch(() => false)) {
      say(`resetting unrecorded experiment ${head.slice(0, 7)} back to baseline ${resume.commit.slice(0, 7)}`)
      await workspace.resetTo(resume.commit)
      head = resume.commit
    } else {
      say(`branch head ${head.slice(0, 7)} is not a descendant of the last recorded baseline; measuring a new baseline`)
    }
  }
  const files = await workspace.readEditable()
  const usable = resume != null && resume.commit === head
  return {
    project,
    python: py.path,
    hardware,
    track: trackFor(hardware),
    workspace,
    log,
    runTag: opts.runTag,
    env,
    history,
    sandbox,
    measureData,
    baseline: {
      commit: head,
      files,
      content: contentHash(files),
      // The figure the loop compared when it kept this baseline (the mean of its confirming runs).
      value: usable ? figureOf(resume) : null,
      record: usable ? resume : null
    }
  }
}
