/** What bench/run.ts and the server processes it starts agree on. */

export const SUB = 'user-42817'

export type Alg = 'HS256' | 'EdDSA'

export type ContenderKind =
  | 'fastify-bare'
  | 'fastify-jwt'
  | 'fastify-jwt-cache'
  | 'tessera-fastify'
  | 'tessera-fastify-nocache'
  | 'tessera-fastify-remote'
  | 'tessera-express-nocache'
  | 'express-bare'
  | 'express-jwt'
  | 'tessera-express'
  | 'hono-jwt'
  | 'fastify-crypto'
  | 'tessera-server'

/** Key material handed to the servers through BENCH_KEYS. */
export interface BenchKeys {
  /** HS256 secret (UTF-8 text, 43 characters). */
  secret: string
  /** Ed25519 PKCS#8 PEM. */
  privatePem: string
  /** Ed25519 SPKI PEM. */
  publicPem: string
}

/** Messages a server sends to its parent over IPC. */
export interface ServerMessage {
  port?: number
  cpu?: NodeJS.CpuUsage
  rss?: number
  /** Event-loop delay percentiles in ms (auth server). */
  lag?: { p50: number; p99: number; max: number; count: number }
  /** Free-form result of a measurement done inside the process. */
  result?: unknown
  error?: string
}
