/**
 * Discovery (RFC 8414): `/.well-known/oauth-authorization-server` tells a resource server where the
 * public keys are, so it can start from the issuer URL alone.
 *
 * Tessera is not an OAuth 2 authorization server: it has no authorization endpoint and its login and
 * refresh endpoints take JSON, not RFC 6749 form-encoded grants. So the document publishes only the
 * fields that are true of it (`issuer`, `jwks_uri`) and leaves out `token_endpoint`,
 * `response_types_supported` and `grant_types_supported` rather than advertise a protocol it does not
 * speak; Tessera's own endpoints and signing algorithms are under `tessera_*` names (RFC 8414 §2 allows
 * additional metadata).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { ServerContext } from '../context.js'

const DISCOVERY_PATH = '/.well-known/oauth-authorization-server'

const Metadata = Type.Object(
  {
    issuer: Type.String({
      description:
        'TESSERA_ISSUER when set, else the origin the client used (scheme and host, X-Forwarded-* honoured with TESSERA_TRUST_PROXY).',
    }),
    jwks_uri: Type.String({
      description:
        'The public signing keys (JWKS). Under the origin of TESSERA_ISSUER when it is an http(s) URL (no request header changes it), else under the origin the client used.',
    }),
    tessera_access_token_signing_alg_values_supported: Type.Array(Type.String(), {
      description: 'Algorithms of the published keys, the signing key’s first (RFC 9068 access tokens).',
    }),
    tessera_login_endpoint: Type.String(),
    tessera_refresh_endpoint: Type.String(),
    tessera_logout_endpoint: Type.String(),
  },
  { additionalProperties: false },
)

/** The origin the client used: behind a trusted proxy, the one it names in `X-Forwarded-Proto/Host`. */
function originOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

/**
 * The base of the published addresses when `TESSERA_ISSUER` is an http(s) URL: the issuer's origin (the
 * server answers at the root; an issuer with a path has the proxy route only the metadata), so no
 * request header can change them. Built from the request instead, a `Host` or `X-Forwarded-Host` chosen
 * by a client would name its own `jwks_uri` in a document a shared cache keeps for every client, and a
 * resource server starting from the issuer (`remoteJwks.fromIssuer`) would trust that client's keys.
 */
function issuerBase(issuer: string | undefined): string | undefined {
  // A query, a fragment or spaces would end up inside the addresses (RFC 8414 §2 forbids the first two).
  if (issuer === undefined || issuer.trim() !== issuer || !URL.canParse(issuer)) return undefined
  const { protocol, search, hash, origin } = new URL(issuer)
  if (search !== '' || hash !== '' || issuer.includes('#') || issuer.includes('?')) return undefined
  return protocol === 'https:' || protocol === 'http:' ? origin : undefined
}

/** Registers `GET /.well-known/oauth-authorization-server`. */
export function discoveryRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const fixed = issuerBase(ctx.config.issuer)
  app.get(
    DISCOVERY_PATH,
    {
      schema: {
        tags: ['keys'],
        summary: 'Authorization server metadata (RFC 8414): issuer and JWKS location',
        response: { 200: Metadata },
      },
    },
    async (request, reply) => {
      const origin = fixed ?? originOf(request)
      const algorithms = new Set<string>()
      for (const { key } of ctx.keys.entries()) if (key.publicJwk !== undefined) algorithms.add(key.alg)
      // Otherwise the document mirrors the Host header: a shared cache must key on it.
      if (fixed === undefined) void reply.header('vary', 'host, x-forwarded-host, x-forwarded-proto')
      return reply.header('cache-control', `public, max-age=${ctx.config.jwksMaxAge}`).send({
        issuer: ctx.config.issuer ?? origin,
        jwks_uri: `${origin}/.well-known/jwks.json`,
        tessera_access_token_signing_alg_values_supported: [...algorithms],
        tessera_login_endpoint: `${origin}/auth/login`,
        tessera_refresh_endpoint: `${origin}/auth/refresh`,
        tessera_logout_endpoint: `${origin}/auth/logout`,
      })
    },
  )
}
