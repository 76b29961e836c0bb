/**
 * `tessera/server`: the ready-to-run auth service. `startServer()` opens the database, loads (or makes)
 * the signing keys, and listens; `buildServer()` gives the Fastify instance without listening.
 */
export { loadServerConfig, checkServerConfig, SETTINGS } from './config.js'
export type { ServerConfig, DoctorFinding, TokenTransport } from './config.js'
export { startServer, buildServer } from './app.js'
export type { RunningServer, BuiltServer } from './app.js'
