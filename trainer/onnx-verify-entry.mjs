// The ONNX verifier as its own process (started by onnx-verify.ts, normally in
// the sandbox): plain JS so Node can start it, then tsx loads the TypeScript
// evaluator. Options come as JSON in argv[2]; the last line printed is the result.
import { tsImport } from 'tsx/esm/api'

const RESULT = 'SWARM_VERIFY_RESULT '
try {
  const { verifyModel } = await tsImport('./onnx-eval.ts', import.meta.url)
  const result = await verifyModel(JSON.parse(process.argv[2] ?? '{}'))
  process.stdout.write(`\n${RESULT}${JSON.stringify({ ok: true, result })}\n`)
} catch (err) {
  process.stdout.write(`\n${RESULT}${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`)
}
