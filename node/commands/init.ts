/** `swarm-node init`: the node's identity and the default project, ready to start. */
import { resolve } from 'node:path'
import { initProject } from '../../trainer/template.ts'
import { paths, resolveHome } from '../home.ts'
import { loadOrCreateIdentity } from '../identity.ts'
import type { Output } from '../output.ts'

export async function init (home: string, opts: { project?: string }, out: Output): Promise<number> {
  const identity = await loadOrCreateIdentity(home)
  const project = resolve(opts.project ?? paths.defaultProject(home))
  const created = await initProject(project)
  out.result(
    { home, peerId: identity.peerId, identity: identity.path, identityCreated: identity.created, project, projectCreated: created },
    [
      `peer id   ${identity.peerId}${identity.created ? ' (new)' : ''}`,
      `identity  ${identity.path}`,
      `project   ${project}${created ? ' (default project: byte-level GPT on the Brown corpus)' : ' (already there, left as is)'}`,
      '',
      `next: npx swarm-node${home === resolveHome() ? '' : ` --home ${shellWord(home)}`} start --offline --budget 60`
    ].join('\n')
  )
  return 0
}

/** A path as a shell reads it back. */
function shellWord (p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`
}
