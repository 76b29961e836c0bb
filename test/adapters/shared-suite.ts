// The behavioural suite every adapter runs: the same requests, the same expected statuses, codes,
// headers and cookies, whichever framework answers them.
import { afterEach, describe } from 'vitest'
import type { AdapterOptions } from '../../packages/tessera/src/adapters/fastify.js'
import { createTessera, type Tessera, type TesseraOptions } from '../../packages/tessera/src/index.js'
import { SECRET } from '../helpers/forge.js'
import type { AppSettings, MakeApp, TestClient } from './harness.js'
import { cookieSuite } from './suite-cookies.js'
import { csrfOrderSuite } from './suite-csrf-order.js'
import { errorSuite } from './suite-errors.js'
import { locationSuite } from './suite-locations.js'
import { remoteSuite } from './suite-remote.js'
import { paritySuite } from './suite-parity.js'
import { routeSuite } from './suite-routes.js'

/** A started app and the engine it uses. */
export interface Started {
  client: TestClient
  auth: Tessera
}

/** What each part of the suite receives. */
export interface SuiteContext {
  /**
   * Starts an app with adapter `options`; the engine uses {@link SECRET} plus `authOptions`, the
   * framework `settings`.
   */
  start(
    options?: AdapterOptions,
    authOptions?: Omit<TesseraOptions, 'secret' | 'keys'>,
    settings?: AppSettings,
  ): Promise<Started>
  /** Builds the app without starting a client, for start-up errors. */
  build(options: AdapterOptions): Promise<TestClient>
  /** Starts an app on a given engine (a verify-only or remote one). */
  startWith(auth: Tessera, options?: AdapterOptions): Promise<TestClient>
}

/** `Authorization: Bearer <token>`. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

/** The RFC 6750 challenge of a refused token; §3 allows no quote or backslash in the description. */
export const INVALID_TOKEN =
  /^Bearer error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"$/

/** Runs the whole suite against one adapter (and one way of sending requests). */
export function runAdapterSuite(name: string, makeApp: MakeApp): void {
  describe(name, () => {
    const open: TestClient[] = []
    afterEach(async () => {
      await Promise.all(open.splice(0).map((client) => client.close()))
    })
    const context: SuiteContext = {
      async start(options = {}, authOptions = {}, settings = {}) {
        const auth = createTessera({ secret: SECRET, ...authOptions })
        const client = await makeApp(auth, options, settings)
        open.push(client)
        return { client, auth }
      },
      async build(options) {
        const client = await makeApp(createTessera({ secret: SECRET }), options)
        open.push(client)
        return client
      },
      async startWith(auth, options = {}) {
        const client = await makeApp(auth, options)
        open.push(client)
        return client
      },
    }
    locationSuite(context)
    errorSuite(context)
    cookieSuite(context)
    csrfOrderSuite(context)
    routeSuite(context)
    remoteSuite(context)
    paritySuite(context)
  })
}
