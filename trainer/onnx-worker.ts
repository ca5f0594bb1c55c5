/**
 * Runs `verifyModel` in a worker thread. onnxruntime-node's `session.run`
 * computes on the calling thread (90–480 ms per batch for the default model),
 * which would stall a swarm node's gossip validation, heartbeats and control
 * API for the whole verification; a worker keeps the event loop free.
 */
import { Worker } from 'node:worker_threads'
import type { verifyModel, VerifyResult } from './onnx-eval.ts'

type VerifyOptions = Omit<Parameters<typeof verifyModel>[0], 'signal' | 'onProgress'>

export async function verifyModelInWorker (opts: VerifyOptions, signal?: AbortSignal): Promise<VerifyResult> {
  signal?.throwIfAborted()
  const worker = new Worker(new URL('./onnx-worker-entry.mjs', import.meta.url), { workerData: opts })
  return await new Promise<VerifyResult>((resolve, reject) => {
    const onAbort = (): void => { void worker.terminate(); reject(signal?.reason ?? new Error('aborted')) }
    signal?.addEventListener('abort', onAbort, { once: true })
    const done = (): void => { signal?.removeEventListener('abort', onAbort) }
    worker.once('message', (m: { ok: true, result: VerifyResult } | { ok: false, error: string }) => {
      done()
      void worker.terminate()
      if (m.ok) resolve(m.result)
      else reject(new Error(m.error))
    })
    worker.once('error', err => { done(); reject(err) })
    worker.once('exit', code => { done(); if (code !== 0) reject(new Error(`ONNX verification worker exited with code ${code}`)) })
  })
}
