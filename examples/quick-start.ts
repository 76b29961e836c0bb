// The README's library quick start, runnable as written: `npm run example`.
import { createTessera, generateKey, importJwks, isTesseraError } from 'tessera'

// 1. An engine with an HS256 secret (at least 32 bytes) or, better, an EdDSA key pair.
const auth = createTessera({
  keys: await generateKey('EdDSA'),
  accessTokenTtl: '15m',
  refreshTokenTtl: '30d',
})

// 2. Tokens for a user who just logged in.
const access = await auth.createAccessToken('alice', { fresh: true, claims: { roles: ['admin'] } })
const refresh = await auth.createRefreshToken('alice')

// 3. Verification: signature (algorithm pinned by the key), type, exp/nbf, revocation.
const { identity, claims } = await auth.verify(access)
console.log('verified', identity, claims.roles)

// A refresh token is never accepted where an access token is expected.
try {
  await auth.verify(refresh)
} catch (error) {
  if (isTesseraError(error)) console.log('refused:', error.code) // token_wrong_type
}
console.log('refresh ok:', (await auth.verify(refresh, { type: 'refresh' })).identity)

// 4. Revocation takes effect on the next verification.
await auth.revokeToken(claims)
try {
  await auth.verify(access)
} catch (error) {
  if (isTesseraError(error)) console.log('after logout:', error.code) // token_revoked
}

// 5. Other services verify with the public keys alone: the JWKS (the server serves it at
//    /.well-known/jwks.json; remoteJwks(url) fetches and refreshes it). They cannot sign.
console.log(JSON.stringify(auth.jwks()))
const resource = createTessera({ keys: importJwks(auth.jwks()) })
console.log('resource server:', (await resource.verify(await auth.createAccessToken('bob'))).identity)
try {
  await resource.createAccessToken('mallory')
} catch (error) {
  if (isTesseraError(error)) console.log('resource server cannot sign:', error.code) // configuration_error
}
