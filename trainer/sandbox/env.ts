/**
 * The environment a sandboxed process starts with: nothing inherited but an
 * allow-list of harmless settings (locale, time zone, thread counts, which
 * GPUs), then what the node itself sets for the run. API keys, tokens, the
 * node's own SWARM_NODE_* settings and anything that merely looks like a
 * secret never get in, whatever a manifest or a caller asks. Pure.
 */
import { SECRET_NAME_RE } from '../manifest.ts'

/** Inherited from the node's environment when set. */
export const INHERITED = [
  'PATH', 'LANG', 'LANGUAGE', 'TZ', 'TERM', 'USER', 'LOGNAME',
  'OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OMP_WAIT_POLICY',
  'CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES', 'NVIDIA_DRIVER_CAPABILITIES', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES',
  'PYTORCH_CUDA_ALLOC_CONF', 'PYTHONPATH', 'LD_LIBRARY_PATH'
] as const
const INHERITED_PREFIX = /^LC_[A-Z]+$/

export interface EnvOptions {
  /** The node's environment to pick from (default process.env). */
  from: NodeJS.ProcessEnv
  /** HOME inside the sandbox (an empty folder). */
  home: string
  /** More names to pass through (the manifest's sandbox.env, the agent's --agent-env). */
  names?: readonly string[]
  /** Values the node sets for this run (SWARM_TIME_BUDGET, ...); they win. */
  set?: Record<string, string>
  /**
   * Names the caller vouches for even though they look secret: only the user's
   * own command-line choice for their own agent (--agent-env) may do this.
   */
  vouched?: readonly string[]
}

export function isSecretName (name: string): boolean {
  return SECRET_NAME_RE.test(name)
}

/**
 * The allow-listed environment. Python writes no bytecode caches
 * (PYTHONDONTWRITEBYTECODE), so no run can plant a .pyc that a later run would
 * import instead of the source; it still reads the system's own caches, so it
 * starts as fast as outside (the workspace's __pycache__ folders are hidden by
 * the sandbox).
 */
export function sandboxEnv (o: EnvOptions): Record<string, string> {
  const vouched = new Set(o.vouched ?? [])
  const env: Record<string, string> = {}
  const pass = (name: string): void => {
    const v = o.from[name]
    if (v === undefined) return
    if (isSecretName(name) && !vouched.has(name)) return
    env[name] = v
  }
  for (const name of INHERITED) pass(name)
  for (const name of Object.keys(o.from)) if (INHERITED_PREFIX.test(name)) pass(name)
  for (const name of o.names ?? []) pass(name)
  if (env.PATH === undefined) env.PATH = '/usr/local/bin:/usr/bin:/bin'
  Object.assign(env, {
    HOME: o.home,
    TMPDIR: '/tmp',
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1'
  })
  for (const [k, v] of Object.entries(o.set ?? {})) {
    if (isSecretName(k) && !vouched.has(k)) continue
    env[k] = v
  }
  return env
}
