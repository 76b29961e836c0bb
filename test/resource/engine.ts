// What both resource services share: a verify-only Tessera engine over the auth server's JWKS (found
// from the issuer URL alone, RFC 8414 discovery) and the auth server's revocations, shared through
// Redis: the same prefix and channel as the server instances, an in-memory replica answering checks.
// Configuration comes from the environment: ISSUER, REDIS_URL, REDIS_PREFIX, JWKS_MIN_AGE.
import { Redis } from 'ioredis'
import {
  applyRevocation,
  createTessera,
  memoryRevocationStore,
  remoteJwks,
  replicatedRevocationStore,
  type RemoteJwks,
  type Tessera,
} from 'tessera'
import { redisRevocationStore } from 'tessera/redis'

/** A resource service's engine and what it must close. */
export interface ResourceEngine {
  auth: Tessera
  jwks: RemoteJwks
  close: () => Promise<void>
}

function required(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is required`)
  return value
}

/** Builds the engine from the environment and waits until the revocations are loaded and subscribed. */
export async function resourceEngine(): Promise<ResourceEngine> {
  const issuer = required('ISSUER')
  const client = new Redis(required('REDIS_URL'), { maxRetriesPerRequest: 1 })
  const durable = redisRevocationStore({ client, prefix: required('REDIS_PREFIX') })
  const revocation = replicatedRevocationStore({ durable, replica: memoryRevocationStore() })
  await revocation.sync()
  const subscription = await durable.subscribe((entry) => void applyRevocation(revocation.replica, entry), {
    onReconnect: () => void revocation.sync(),
  })
  const jwks = remoteJwks.fromIssuer(issuer, {
    minCacheAge: process.env.JWKS_MIN_AGE ?? '1s',
    cooldown: '1s',
  })
  await jwks.ready()
  const auth = createTessera({ keys: jwks, issuer, revocation })
  return {
    auth,
    jwks,
    async close() {
      await subscription.close()
      client.disconnect()
    },
  }
}
