import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

export async function addUser (app: FastifyInstance, username: string, password: string) {
  return app.accounts.create(username, password)
}

export function login (app: FastifyInstance, username: string, password: string) {
  return app.inject({ method: 'POST', url: '/login', payload: { username, password } })
}

export async function tokenFor (app: FastifyInstance, username: string, password: string): Promise<string> {
  const res = await login(app, username, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().token
}

export function greet (app: FastifyInstance, authorization?: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/', headers: authorization === undefined ? {} : { authorization } })
}

export interface Tokens { token: string, refreshToken: string }

export async function loginTokens (app: FastifyInstance, username: string, password: string): Promise<Tokens> {
  const res = await login(app, username, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export function refresh (app: FastifyInstance, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken } })
}

export function bearer (token: string) {
  return { authorization: `Bearer ${token}` }
}

// A request to a listening server, as a client sends it: a JSON body, a Bearer token. The body comes back
// parsed when it is JSON.
export async function httpCall (base: string, method: string, path: string, options: { token?: string, body?: unknown } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(options.token !== undefined && { authorization: `Bearer ${options.token}` }),
      ...(options.body !== undefined && { 'content-type': 'application/json' })
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body)
  })
  const text = await res.text()
  const body = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body }
}
