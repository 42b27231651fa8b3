import { Type, type Static } from '@sinclair/typebox'

// The one description of the service's configuration: @fastify/env validates process.env against it,
// the CLI does the same through env-schema, and `Static` makes it the type of `fastify.config`.
// The longest access-token lifetime the configuration allows (ACCESS_TOKEN_TTL's maximum).
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 86400

export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({
    default: 'sqlite:./data/auth.db',
    pattern: '^(sqlite:.+|postgres(ql)?://.+)$',
    description: 'sqlite:<path>, sqlite::memory:, or postgres://user:password@host:port/database[?sslmode=require]'
  }),
  DATABASE_LOCK_TIMEOUT: Type.Integer({ default: 5, minimum: 0, maximum: 60, description: 'seconds a write may wait for a database locked by another process before 503' }),
  DATABASE_POOL_SIZE: Type.Integer({ default: 10, minimum: 1, maximum: 1000, description: 'PostgreSQL: connections per instance' }),
  DATABASE_STATEMENT_TIMEOUT: Type.Integer({ default: 5, minimum: 1, maximum: 300, description: 'PostgreSQL: seconds a statement may run before 503' }),
  DATABASE_CONNECT_TIMEOUT: Type.Integer({ default: 5, minimum: 1, maximum: 300, description: 'PostgreSQL: seconds to wait for a connection before 503' }),
  // Instances tell each other of revocations and key changes through Redis pub/sub when this is set,
  // through PostgreSQL's LISTEN/NOTIFY otherwise. redis://[:password@]host:port[/db] or rediss:// (TLS).
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+$', description: 'redis://[user:password@]host:port[/db], rediss:// for TLS' })),
  REDIS_PREFIX: Type.String({ default: 'auth-service:', minLength: 1, maxLength: 100, description: 'prefix of every Redis key and channel of this deployment' }),
  // Where the service is reached from outside: the base of the URLs it publishes (discovery document).
  // Never taken from a request's Host header. Unset: http://localhost:<the port the server listens on>.
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$', description: 'http(s)://host[:port][/path]' })),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'port to listen on (read by fastify-cli too)' }),
  // Encrypts private signing keys and the service's other secrets at rest (AES-256-GCM).
  KEY_ENCRYPTION_KEY: Type.Optional(Type.String({ minLength: 32, description: 'at least 32 characters; keep it outside the database and its backups' })),
  ACCESS_TOKEN_TTL: Type.Integer({ default: 900, minimum: 10, maximum: MAX_ACCESS_TOKEN_TTL_SECONDS, description: 'access token lifetime, seconds' }),
  REFRESH_TOKEN_TTL: Type.Integer({ default: 2592000, minimum: 60, maximum: 31536000, description: 'refresh token lifetime, seconds' }),
  REFRESH_REUSE_GRACE: Type.Integer({ default: 5, minimum: 0, maximum: 60, description: 'seconds a spent refresh token may race its successor' }),
  SIGNUP_ENABLED: Type.Boolean({ default: false }),
  REVOCATION_SYNC_INTERVAL: Type.Number({ default: 0.5, minimum: 0.05, maximum: 3600, description: 'seconds between reads of the change log (revocations, key changes by other processes); hints from Redis or PostgreSQL arrive sooner' }),
  SESSION_PURGE_INTERVAL: Type.Integer({ default: 3600, minimum: 1, maximum: 86400, description: 'seconds between purges of ended sessions, unusable refresh tokens and the change log\'s entries older than a day' }),
  JWT_ISSUER: Type.String({ default: 'auth-service', minLength: 1 }),
  JWT_AUDIENCE: Type.String({ default: 'auth-service', minLength: 1 }),
  JWT_CLOCK_TOLERANCE: Type.Integer({ default: 5, minimum: 0, maximum: 300, description: 'seconds of leeway for exp, nbf and iat between clocks' }),
  // ES256 by default (docs/security.md, "Signing keys, JWKS and rotation", says why). HS256 only with a
  // shared JWT_SECRET.
  JWT_ALGORITHM: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256'), Type.Literal('HS256')], { default: 'ES256' }),
  // A shared secret for HS256 deployments. Length is counted in characters, and a character is at least one
  // byte, so 32 characters ≥ 32 bytes.
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  KEY_PUBLISH_DELAY: Type.Integer({ default: 600, minimum: 0, maximum: 86400, description: 'seconds a new key is published before it signs' }),
  KEY_ROTATION_INTERVAL: Type.Integer({ default: 0, minimum: 0, maximum: 31536000, description: 'seconds between automatic key rotations; 0 turns them off' }),
  ADMIN_USERNAME: Type.String({ default: 'admin', minLength: 1, maxLength: 64 }),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })),
  // New passwords (docs/security.md, "Passwords"): at least this many characters; 15 where the password is
  // the only factor.
  PASSWORD_MIN_LENGTH: Type.Integer({ default: 8, minimum: 8, maximum: 64, description: 'minimum length of a new password, in characters (code points of the NFKC form)' }),
  // Have I Been Pwned's k-anonymity range API: only the first 5 hex characters of the password's SHA-1 are sent.
  BREACHED_PASSWORD_CHECK: Type.Boolean({ default: false, description: 'refuse new passwords listed by the breached-password API' }),
  BREACHED_PASSWORD_API_URL: Type.String({ default: 'https://api.pwnedpasswords.com', pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$', description: 'base URL of a Pwned Passwords range API: GET <url>/range/<prefix>' }),
  BREACHED_PASSWORD_TIMEOUT: Type.Number({ default: 2, minimum: 0.1, maximum: 30, description: 'seconds to wait for the breached-password API before accepting the password without its answer' }),
  ADMIN_PASSWORD_FILE: Type.String({ default: './data/admin-password.txt', minLength: 1 }),
  // OWASP's minimum for argon2id is m=19 MiB, t=2, p=1: configuration may raise it, never lower it.
  ARGON2_MEMORY_KIB: Type.Integer({ default: 19456, minimum: 19456, maximum: 4194304 }),
  ARGON2_TIME_COST: Type.Integer({ default: 2, minimum: 2, maximum: 100 }),
  ARGON2_PARALLELISM: Type.Integer({ default: 1, minimum: 1, maximum: 16 }),
  // Unset: one less than the cores this process may use (at least one), so a core stays for the event loop.
  HASH_CONCURRENCY: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
  SHUTDOWN_GRACE: Type.Integer({ default: 10, minimum: 0, maximum: 600, description: 'seconds in-flight requests have to finish on SIGTERM or SIGINT' }),
  // @fastify/under-pressure: 503 with Retry-After while the event loop lags or the heap is nearly full.
  MAX_EVENT_LOOP_DELAY: Type.Integer({ default: 1000, minimum: 0, maximum: 60000, description: 'milliseconds of event-loop delay above which requests get 503; 0 turns the check off' }),
  MAX_HEAP_USED_MB: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536, description: 'heap in use above which requests get 503 (default: 90 % of the heap limit)' })),
  // The per-account login throttle (docs/security.md, "Abuse resistance").
  LOGIN_THROTTLE_FREE_FAILURES: Type.Integer({ default: 5, minimum: 1, maximum: 1000, description: 'failed logins for one account from one address before that address waits' }),
  LOGIN_THROTTLE_ACCOUNT_FAILURES: Type.Integer({ default: 20, minimum: 1, maximum: 1000000, description: 'failed logins for one account from all addresses (within LOGIN_THROTTLE_WINDOW) after which every address that failed on it waits from its first failure' }),
  LOGIN_THROTTLE_BASE_WAIT: Type.Number({ default: 1, minimum: 0.001, maximum: 3600, description: 'seconds of the first wait; each further attempt doubles it' }),
  LOGIN_THROTTLE_MAX_WAIT: Type.Integer({ default: 900, minimum: 1, maximum: 86400, description: 'seconds the wait grows to at most' }),
  LOGIN_THROTTLE_WINDOW: Type.Integer({ default: 900, minimum: 1, maximum: 86400, description: 'seconds after its last attempt that an address\'s count on an account is forgotten (plus the longest wait)' }),
  LOGIN_THROTTLE_MAX_KEYS: Type.Integer({ default: 100000, minimum: 100, maximum: 10000000, description: 'counters kept (in memory, or in Redis), the least recently used forgotten first' }),
  HASH_QUEUE_LIMIT: Type.Integer({ default: 1000, minimum: 0, maximum: 100000, description: 'logins waiting for a hashing slot before 503' }),
  // Per-client-address rate limits (plugins/rate-limit.ts): requests a window, per address and route.
  // docs/security.md, "Per-address rate limits", gives the reasoning behind each default.
  RATE_LIMIT_WINDOW: Type.Integer({ default: 60, minimum: 1, maximum: 86400, description: 'seconds of one rate-limit window' }),
  RATE_LIMIT_LOGIN: Type.Integer({ default: 100, minimum: 1, maximum: 1000000, description: 'login attempts a window from one address (POST /login and every /login/* route, each)' }),
  RATE_LIMIT_REFRESH: Type.Integer({ default: 600, minimum: 1, maximum: 1000000, description: 'refreshes a window from one address' }),
  RATE_LIMIT_SIGNUP: Type.Integer({ default: 10, minimum: 1, maximum: 1000000, description: 'sign-ups a window from one address' }),
  RATE_LIMIT_PASSWORD_CHANGE: Type.Integer({ default: 10, minimum: 1, maximum: 1000000, description: 'password changes a window from one address' }),
  RATE_LIMIT_MAX_KEYS: Type.Integer({ default: 50000, minimum: 1, maximum: 1000000, description: 'counters kept in memory (least recently used dropped first)' }),
  // Which peers may tell us the client's address in X-Forwarded-For (Fastify's trustProxy): false, true, or
  // a comma-separated list of proxy addresses and CIDRs. Read at import by src/http/server-options.ts.
  TRUST_PROXY: Type.String({ default: 'false', description: 'false, true, or proxy addresses/CIDRs, comma-separated' }),
  // GET /metrics (docs/operations.md, "Metrics"): unset, loopback peers only; set, whoever sends it as a Bearer token
  // and nobody else. A secret: never logged.
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 32, maxLength: 1024, pattern: '^[\\x21-\\x7e]+$', description: 'at least 32 visible ASCII characters, no spaces; a secret' })),
  // Browser origins allowed to call the API (CORS), comma-separated, exact; unset: no CORS at all.
  CORS_ORIGINS: Type.Optional(Type.String({ description: 'comma-separated origins (https://app.example.com)' })),
  // The OpenAPI document (/docs/json) and Swagger UI (/docs), made from the route schemas.
  DOCS_ENABLED: Type.Boolean({ default: true, description: 'serve the API documentation page at /docs and the OpenAPI document at /docs/json' })
})

export type Config = Static<typeof ConfigSchema>
