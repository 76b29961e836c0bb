/**
 * `tessera/redis`: the revocation store shared through Redis, for several instances of an API (or
 * resource servers beside the Tessera auth server). The driver is yours: pass an ioredis client;
 * only its type is referenced here.
 *
 * @packageDocumentation
 */
export { redisRevocationStore } from './stores/redis/revocations.js'
export type {
  RedisRevocationStore,
  RedisRevocationStoreOptions,
  RevocationSubscription,
} from './stores/redis/revocations.js'
