// Users as releases before migration 0005 stored them: `username_normalized` by the lower-casing of the
// initial schema's era, which 0005 replaces with full case folding (so two of them may collide there).
import type { Kysely } from 'kysely'
import type { TesseraDatabase } from '../../packages/server/src/stores/sql/schema.js'

/** The normal form of usernames before 0005. */
const oldNormalize = (name: string): string =>
  name.normalize('NFKC').toLowerCase().normalize('NFKC').replace(/\s+/gu, ' ').trim()

/** Inserts `names` as users of the initial schema (any migration from 0001 to 0004 applied). */
export async function insertUsers(db: Kysely<TesseraDatabase>, names: readonly string[]): Promise<void> {
  for (const username of names) {
    await db
      .insertInto('users')
      .values({
        username,
        username_normalized: oldNormalize(username),
        password_hash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
        roles: '[]',
        disabled: 0,
        created_at: 1,
        updated_at: 1,
        password_changed_at: 1,
      })
      .execute()
  }
}
