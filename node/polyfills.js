/**
 * Runtime shims for Node 20. libp2p 3 and its dependencies call
 * `Promise.withResolvers` (Node >= 22), so this module must be imported before
 * anything that imports libp2p. Plain JS so the bin shim can load it before tsx.
 */
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new Promise((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
