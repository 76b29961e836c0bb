/**
 * Migration 0002: the signing-key lifecycle. A key can now be revoked (compromise): it leaves the JWKS
 * and every key ring, and its private material is erased. Scheduled rotation needs no new column: a
 * future `activated_at` is a pending key, a future `retired_at` the end of the current key's turn.
 */
import type { Kysely, Migration } from 'kysely'

async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('signing_keys').addColumn('revoked_at', 'bigint').execute()
}

async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('signing_keys').dropColumn('revoked_at').execute()
}

/** Migration 0002: `signing_keys.revoked_at`. */
export const keyLifecycle: Migration = { up, down }
