/**
 * The node's home directory: identity, default project, run logs. `--home`
 * wins over `SWARM_NODE_HOME`, which wins over `~/.swarm-node`.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export function resolveHome (flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.SWARM_NODE_HOME ?? join(homedir(), '.swarm-node'))
}

export const paths = {
  identity: (home: string) => join(home, 'identity.key'),
  defaultProject: (home: string) => join(home, 'project'),
  runs: (home: string) => join(home, 'runs')
}
