/**
 * The cage every run of project code goes through: bubblewrap with no network,
 * a cleared environment, a private /tmp and an empty $HOME, the node's home
 * invisible, the system read-only, the workspace writable only where the
 * manifest puts outputs, a PID namespace that dies with the node, and limits
 * on memory, processes and file size. Where no cage can be built the node
 * says so and runs only what it wrote itself (see `foreignAllowed`).
 *
 *   const sandbox = await Sandbox.open({ home })              // probes once, reaps what a killed node left
 *   console.log(sandboxLine(sandbox.status()))
 *   const cage = sandbox.forProject({ dir, manifest, python: await pythonRoots(py, dir) })
 *   const outcome = await runCommand({ command, cwd: dir, launch: await cage.launch({ profile: 'run', command, cwd: dir }), ... })
 *
 * Modules: probe.ts (what the machine offers), mounts.ts (the view, pure),
 * env.ts (the environment allow-list, pure), limits.ts (limits, pure),
 * cgroup.ts (cgroups the node makes), reaper.ts (no run outlives its node),
 * sandbox.ts (puts them together for one launch).
 */
import { totalmem } from 'node:os'
import { resolveLimits } from './limits.ts'
import { Sandbox, type Launch, type LaunchSpec, type ProjectInfo, type SandboxStatus } from './sandbox.ts'

export { Sandbox, SandboxError, sandboxLine, expandHome, type AgentCage, type Launch, type LaunchSpec, type ProjectInfo, type SandboxOptions, type SandboxStatus } from './sandbox.ts'
export type { Profile } from './mounts.ts'
export { NODE_OWNED_OUTPUTS } from './mounts.ts'
export { probeCapabilities, capabilities, type Capabilities } from './probe.ts'

/** A sandbox bound to one project: what the loop, the prepare step and the agent launch through. */
export class ProjectSandbox {
  constructor (readonly sandbox: Sandbox, readonly project: ProjectInfo) {}

  get confined (): boolean { return this.sandbox.confined }
  get foreignAllowed (): boolean { return this.sandbox.foreignAllowed }

  status (): SandboxStatus {
    return this.sandbox.status(resolveLimits(this.project.manifest.sandbox, totalmem()))
  }

  async launch (spec: LaunchSpec): Promise<Launch> {
    return await this.sandbox.launch(this.project, spec)
  }
}
