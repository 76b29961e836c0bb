/**
 * `tessera/client`: a framework-free browser client of the Tessera auth server. Cookie mode (HttpOnly
 * cookies + CSRF header) or header mode (tokens in memory), refresh ahead of expiry and on a 401
 * `token_expired` with one retry, and single-flight refreshes across tabs (Web Locks, BroadcastChannel
 * fallback). No Node.js imports: it runs in any modern browser.
 */
export { createClient, readCookie, TesseraHttpError } from './client.js'
export type {
  AuthResult,
  ClientEnvironment,
  ClientEvent,
  ClientMode,
  ClientOptions,
  ClientUser,
  TesseraClient,
} from './client.js'
export { broadcastLocks, webLocks, noLocks } from './coordinator.js'
export type {
  ChannelFactory,
  ChannelLike,
  ElectionTimings,
  LockManagerLike,
  WithLock,
} from './coordinator.js'
