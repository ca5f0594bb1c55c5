// Worker thread body for onnx-worker.ts: plain JS so Node can start it, then
// tsx loads the TypeScript evaluator inside the worker.
import { parentPort, workerData } from 'node:worker_threads'
import { tsImport } from 'tsx/esm/api'

try {
  const { verifyModel } = await tsImport('./onnx-eval.ts', import.meta.url)
  parentPort.postMessage({ ok: true, result: await verifyModel(workerData) })
} catch (err) {
  parentPort.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) })
}
