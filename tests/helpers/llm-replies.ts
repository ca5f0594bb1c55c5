/**
 * What a scripted LLM (tests/helpers/fake-openai.ts) answers with: an edit in
 * the SEARCH/REPLACE form the LLM proposer asks for (trainer/proposers/edits.ts).
 *
 *   startFakeOpenAI([{ reply: `DESCRIPTION: faster\n\n${searchReplace('LR = 0.04', 'LR = 0.02')}` }])
 */

/** One SEARCH/REPLACE block on `file`, without a code fence. */
export function searchReplace (search: string, replace: string, file = 'train.py'): string {
  return `${file}\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n`
}
