/**
 * The dictionary half of the secret doctor: an HS* secret made of words (`thisismylongjwtsecretpassphrase`)
 * passes the library's repetition/sequence/sample check but not zxcvbn-ts, which finds the words. Runs
 * once at start-up, in the password threads (the dictionaries never load on the event loop).
 */
import { SECRET_ADVICE } from 'tessera'
import { STRENGTH_MAX_CHARS } from './password-policy.js'
import type { StrengthJob, StrengthResult } from './password-pool.js'

/**
 * Fewest estimated guesses (log10) a secret must need: 10^25 ≈ 2^83. Measured with zxcvbn-ts: 32
 * random hex digits (`openssl rand -hex 16`) estimate at 10^28 or more, `openssl rand -base64 48` far
 * above; a sentence of words such as `thisismyverylongandsecurepassword` at 10^21, a keyboard walk at 10^12.
 */
const SECRET_MIN_GUESSES_LOG10 = 25

/** Why `secret` is guessable by a dictionary attack, or `undefined`. */
export async function secretWordsProblem(
  secret: string,
  estimate: (job: StrengthJob) => Promise<StrengthResult>,
): Promise<string | undefined> {
  const result = await estimate({
    password: secret,
    userInputs: ['tessera', 'jwt', 'secret'],
    maxLength: STRENGTH_MAX_CHARS,
  })
  if (result.guessesLog10 >= SECRET_MIN_GUESSES_LOG10) return undefined
  const warning = result.warning === null ? '' : ` (${result.warning.replace(/\.$/, '')})`
  return `the secret is built from words or patterns a dictionary attack tries first${warning}; ${SECRET_ADVICE}`
}
