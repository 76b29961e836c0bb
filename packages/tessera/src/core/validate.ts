/**
 * The core's one set of option validators, shared by `createTessera()` (config.ts) and the adapter and
 * route options (http/). Each throws a {@link ConfigurationError} naming the option path, so misuse fails
 * at start-up with a message that says which option to fix.
 */
import { ConfigurationError } from './errors.js'
import { unknownOption, type OptionScope } from './suggest.js'

/**
 * A plain object (or `undefined`), with no key outside `known`. An unknown key's message names the option
 * probably meant: a misspelling, another capitalisation, or a flask-jwt-extended name (see suggest.ts).
 */
export function section(
  value: unknown,
  path: string,
  known: readonly string[],
  scope: OptionScope = 'adapter',
): Record<string, unknown> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(path === '' ? 'options' : path, 'expected an options object')
  }
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      throw new ConfigurationError(
        join(path, name),
        unknownOption(name, known, scope, scope === 'adapter' ? path : ''),
      )
    }
  }
  return value as Record<string, unknown>
}

/** `path.name`, or `name` at the top level. */
export function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`
}

/** A string; `allowEmpty` for options where empty has a meaning (a bare header token, no prefix). */
export function str(value: unknown, fallback: string, path: string, allowEmpty = false): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || (!allowEmpty && value === '')) {
    throw new ConfigurationError(path, `must be a ${allowEmpty ? '' : 'non-empty '}string`)
  }
  return value
}

/** An optional non-empty string. */
export function optionalStr(value: unknown, path: string): string | undefined {
  return value === undefined ? undefined : str(value, '', path)
}

/** A boolean. */
export function bool(value: unknown, fallback: boolean, path: string): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean')
    throw new ConfigurationError(path, `must be true or false, got ${typeof value}`)
  return value
}

/** A function, or `undefined`. */
export function fn<T>(value: T | undefined, path: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new ConfigurationError(path, `must be a function, got ${typeof value}`)
  }
  return value
}

/**
 * A list of non-empty strings (a single string counts as a list of one), frozen; `undefined` stays. An
 * empty list is refused unless `allowEmptyList` (where it means "none").
 */
export function strList(value: unknown, path: string, allowEmptyList = false): readonly string[] | undefined {
  if (value === undefined) return undefined
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if ((!allowEmptyList && list.length === 0) || !list.every((v) => typeof v === 'string' && v !== '')) {
    const lists = allowEmptyList ? 'a list of them' : 'a non-empty list of them'
    throw new ConfigurationError(path, `must be a non-empty string or ${lists}`)
  }
  return Object.freeze([...(list as string[])])
}

/** A positive safe integer. */
export function positiveInteger(value: unknown, fallback: number, path: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    const got = typeof value === 'number' ? String(value) : JSON.stringify(value)
    throw new ConfigurationError(path, `must be a positive whole number, got ${got}`)
  }
  return value
}

// RFC 6265 §4.1.1 cookie-name is an RFC 7230 token; the same grammar suits header and parameter names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** A cookie, header, query or body key name: an RFC 7230 token, never a prototype key. */
export function name(value: unknown, fallback: string, path: string): string {
  const result = str(value, fallback, path)
  if (!TOKEN.test(result) || FORBIDDEN_KEYS.has(result)) {
    throw new ConfigurationError(path, `${JSON.stringify(result)} is not a valid name (RFC 7230 token)`)
  }
  return result
}

/** A cookie path: starts with `/`, no `;` or control characters. */
export function cookiePath(value: unknown, fallback: string, path: string): string {
  const result = str(value, fallback, path)
  // eslint-disable-next-line no-control-regex
  if (!result.startsWith('/') || /[;\u0000-\u001f\u007f]/.test(result)) {
    throw new ConfigurationError(path, 'must start with "/" and contain no ";" or control characters')
  }
  return result
}
