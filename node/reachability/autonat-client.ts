/**
 * AutoNAT v1 as a client only. Many public peers (older kubo and go-libp2p)
 * verify addresses over v1 only, so we still ask them; but js-libp2p's v1
 * *server* (`@libp2p/autonat` 3.0) dials the asker back without forcing a new
 * connection, gets the one the question came on, finds its address is not
 * the one asked about, answers "dial error" and closes that connection: every
 * peer that asks us loses its link to us and never hears yes. So we do not
 * answer v1; our AutoNAT v2 server (which does force a fresh dial-back)
 * answers instead.
 */
import { autoNAT } from '@libp2p/autonat'
import type { Startable } from '@libp2p/interface'

/** The v1 protocol id, as `@libp2p/autonat` builds it. */
export const AUTONAT_V1_PROTOCOL = '/libp2p/autonat/1.0.0'

type Components = Parameters<ReturnType<typeof autoNAT>>[0]

export function autoNATClient (): (components: Components) => unknown {
  const make = autoNAT()
  return components => {
    const service = make(components) as Startable
    const start = service.start.bind(service)
    service.start = async () => {
      await start()
      await components.registrar.unhandle(AUTONAT_V1_PROTOCOL)
    }
    return service
  }
}
