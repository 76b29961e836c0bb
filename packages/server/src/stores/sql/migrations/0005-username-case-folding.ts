/**
 * Usernames move from lower-casing to full Unicode case folding (issue 15): `username_normalized` is
 * recomputed from the stored display name with today's {@link normalizeUsername}. Two accounts that
 * become one name ("straße" and "STRASSE") are never merged: the migration stops, changes nothing,
 * and names them so an operator can rename or delete one of each with the version upgraded from (the
 * pending migrations run in one transaction: that version still starts on the database).
 */
import type { Kysely, Migration } from 'kysely'
import { normalizeUsername } from '../../username-normal-form.js'
import { MigrationRefusal } from './refusal.js'

// A type alias, not an interface: withTables wants a record of tables.
type UsersTable = {
  users: { id: number; username: string; username_normalized: string }
}

/** The accounts that would share a normalised name, as readable text, or `undefined`. */
function describeCollisions(rows: readonly { id: number; username: string }[]): string | undefined {
  const byName = new Map<string, { id: number; username: string }[]>()
  for (const row of rows) {
    const key = normalizeUsername(row.username)
    byName.set(key, [...(byName.get(key) ?? []), row])
  }
  const clashes = [...byName.values()].filter((group) => group.length > 1)
  if (clashes.length === 0) return undefined
  return clashes
    .map((group) => group.map((u) => `#${u.id} ${JSON.stringify(u.username)}`).join(' = '))
    .join('; ')
}

async function up(db: Kysely<unknown>): Promise<void> {
  const users = db.withTables<UsersTable>()
  const rows = await users.selectFrom('users').select(['id', 'username', 'username_normalized']).execute()
  const clashes = describeCollisions(rows)
  if (clashes !== undefined) {
    throw new MigrationRefusal(
      `usernames that differ only by case folding would become one account: ${clashes}. Nothing was changed: the version you upgraded from still starts on this database; with it, rename or delete one account of each group, then upgrade again`,
    )
  }
  const changed = rows.flatMap((row) => {
    const normalized = normalizeUsername(row.username)
    return normalized === row.username_normalized ? [] : [{ id: row.id, normalized }]
  })
  // Two passes: a row's new key may still be another row's old, stale key (the unique constraint is
  // checked per statement), so every changed row first takes a key no username can have.
  for (const row of changed) {
    await users
      .updateTable('users')
      .set({ username_normalized: `\u0001migrating:${row.id}` })
      .where('id', '=', row.id)
      .execute()
  }
  for (const row of changed) {
    await users
      .updateTable('users')
      .set({ username_normalized: row.normalized })
      .where('id', '=', row.id)
      .execute()
  }
}

// Going back would need the old lower-casing; the folded names stay valid keys for it to rebuild.
async function down(): Promise<void> {}

export const usernameCaseFolding: Migration = { up, down }
