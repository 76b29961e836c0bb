// The shared-revocation recipe of docs/resource-servers.md, as written there, against a real Redis: an
// issuer revokes through the Redis store, a resource server on a remote JWKS that subscribed to the same
// prefix refuses the token, in memory, without a round trip per request. (The end-to-end test with the
// auth server and separate processes lives with the server.)
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  applyRevocation,
  createTessera,
  generateKey,
  memoryRevocationStore,
  remoteJwks,
  replicatedRevocationStore,
} from '../../packages/tessera/src/index.js'
import { redisRevocationStore, type RevocationSubscription } from '../../packages/tessera/src/redis.js'
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js'
import { deletePrefix, REDIS_URL, redisReachable, uniquePrefix, waitFor } from '../helpers/redis.js'
import { serviceAvailable } from '../helpers/services.js'

const available = serviceAvailable('Redis', await redisReachable())

describe.skipIf(!available)('resource server sharing revocations over Redis', () => {
  const cleanup: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step()
  })

  it('refuses a token revoked at the issuer, checking in memory', async () => {
    const prefix = uniquePrefix()
    // The issuer: its revocations go to Redis under `prefix`, as the auth server's do.
    const issuerRedis = new Redis(REDIS_URL)
    cleanup.push(async () => {
      await deletePrefix(issuerRedis, prefix)
      issuerRedis.disconnect()
    })
    const issuerStore = replicatedRevocationStore({
      durable: redisRevocationStore({ client: issuerRedis, prefix }),
      replica: memoryRevocationStore(),
    })
    const issuer = createTessera({ keys: await generateKey('EdDSA'), revocation: issuerStore })
    const server: JwksServer = await startJwksServer(issuer.jwks())
    cleanup.push(() => server.close())

    // The recipe.
    const redis = new Redis(REDIS_URL)
    cleanup.push(() => {
      redis.disconnect()
    })
    const durable = redisRevocationStore({ client: redis, prefix })
    const revocation = replicatedRevocationStore({ durable, replica: memoryRevocationStore() })
    const subscription: RevocationSubscription = await durable.subscribe(
      (entry) => void applyRevocation(revocation.replica, entry),
      { onReconnect: () => void revocation.sync() },
    )
    cleanup.push(() => subscription.close())
    const alreadyRevoked = await issuer.createAccessToken('carol', { sid: 's-old' })
    await issuer.revokeSession('s-old')
    await revocation.sync()
    const auth = createTessera({ keys: remoteJwks(server.url), revocation })

    const token = await issuer.createAccessToken('alice', { sid: 's-1' })
    expect((await auth.verify(token)).identity).toBe('alice')
    await expect(auth.verify(alreadyRevoked)).rejects.toMatchObject({ code: 'token_revoked' })
    await issuer.revokeSession('s-1')
    expect(
      await waitFor(() => {
        try {
          void auth.verifyInline(token)
          return false
        } catch (error) {
          return (error as { code?: string }).code === 'token_revoked'
        }
      }),
    ).toBe(true)
    // The check stays synchronous: the replica answers, not Redis.
    const other = await issuer.createAccessToken('bob')
    expect(auth.verifyInline(other)).not.toBeInstanceOf(Promise)
  })
})
