/**
 * `swarm-node peers`: whom the running node is connected to, how (direct or
 * through a relay, over which transport), with their latest heartbeat.
 */
import { requireNode } from '../control/client.ts'
import { age, bpb, shortPeer, table } from '../control/format.ts'
import type { NodeState, PeerInfo } from '../control/view.ts'
import { linkText } from '../network-status.ts'
import type { Output } from '../output.ts'

export async function peers (home: string, _opts: unknown, out: Output): Promise<number> {
  const node = await requireNode(home)
  const [state, { peers: list }] = await Promise.all([node.get<NodeState>('/api/status'), node.get<{ peers: PeerInfo[] }>('/api/peers')])
  const text = list.length === 0
    ? (state.offline ? 'no peers: the node runs --offline' : 'no peers connected yet (give --bootstrap <multiaddr> to `start`, wait for mDNS, or for the rendezvous on the public DHT)')
    : table(['peer', 'dir', 'link', 'address', 'track', 'best', 'exps', 'kept', 'trust', 'heard'],
      list.map(p => [shortPeer(p.peer), p.direction === 'inbound' ? 'in' : 'out', linkText(p.link ?? undefined), p.addrs[0] ?? '-', p.status?.track ?? '-', bpb(p.status?.best_bpb, 4),
        String(p.status?.experiments ?? '-'), String(p.status?.kept ?? '-'), String(p.trust), p.status != null ? age(p.status.time) : '-']),
      ['l', 'l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'l']) + `\n${list.length} peer${list.length === 1 ? '' : 's'}`
  out.result({ peerId: state.peerId, offline: state.offline, peers: list }, text)
  return 0
}
