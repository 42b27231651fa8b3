import { Type, type Static } from '@sinclair/typebox'

// The one description of the service's configuration: @fastify/env validates process.env against it,
// the CLI does the same through env-schema, and `Static` makes it the type of `fastify.config`. Each
// variable's `description` is its entry in docs/configuration.md (scripts/reference.ts writes the
// page from this file and src/config/rules.ts): change a description here, then run `npm run docs`.

// The longest access-token lifetime the configuration allows (ACCESS_TOKEN_TTL's maximum).
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 86400

// What an optional variable without a schema default stands for when unset (the default column of the
// configuration reference), where the code computes it. A symbol key: ajv (under @fastify/env and
// env-schema) refuses unknown string keywords in strict mode, and never sees a symbol key.
export const UNSET_MEANS = Symbol('unset means')
const unset = (means: string) => ({ [UNSET_MEANS]: means })

const HTTP_URL = '^https?://[^/?#\\s]+(/[^?#\\s]*)?$'

export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({
    default: 'sqlite:./data/auth.db',
    pattern: '^(sqlite:.+|postgres(ql)?://.+)$',
    description: 'The user store: `sqlite:<path>`, `sqlite::memory:`, or `postgres://user:password@host:port/database` ' +
      '(or `postgresql://`; libpq parameters such as `?sslmode=require` honoured). The SQLite file and its folder are ' +
      'created on first start, and migrations run at every start. SQLite runs in WAL mode with `synchronous=NORMAL`: ' +
      'no fsync per commit on the event loop; a power cut (not a crash) can lose the last few commits.'
  }),
  DATABASE_LOCK_TIMEOUT: Type.Integer({
    default: 5,
    minimum: 0,
    maximum: 60,
    description: 'Seconds a write may wait, without blocking, for a database locked by another process (the CLI, a backup) before answering 503.'
  }),
  DATABASE_POOL_SIZE: Type.Integer({ default: 10, minimum: 1, maximum: 1000, description: 'PostgreSQL: connections per instance.' }),
  DATABASE_STATEMENT_TIMEOUT: Type.Integer({
    default: 5,
    minimum: 1,
    maximum: 300,
    description: 'PostgreSQL: seconds a statement may run before the request is answered 503.'
  }),
  DATABASE_CONNECT_TIMEOUT: Type.Integer({ default: 5, minimum: 1, maximum: 300, description: 'PostgreSQL: seconds to wait for a connection before 503.' }),
  // Hints of revocations and key changes travel by Redis pub/sub when this is set, and with PostgreSQL by
  // its LISTEN/NOTIFY as well, Redis or not (src/sync/hints.ts). Also redis://:password@host (password only).
  REDIS_URL: Type.Optional(Type.String({
    pattern: '^rediss?://.+$',
    description: '`redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Instances tell each other of changes ' +
      '(revocations, key changes) through Redis pub/sub, and on PostgreSQL through its LISTEN/NOTIFY as well, with or ' +
      'without Redis (with SQLite and no Redis: polling only, every `REVOCATION_SYNC_INTERVAL`). Rate-limit and ' +
      'login-throttle counters are kept there too, shared by every instance.'
  })),
  REDIS_PREFIX: Type.String({
    default: 'auth-service:',
    minLength: 1,
    maxLength: 100,
    description: 'Prefix of every Redis key and channel of this deployment (several deployments may share one Redis).'
  }),
  // The base of the URLs the service publishes; routes/well-known.ts makes the unset value (the port listened on).
  PUBLIC_URL: Type.Optional(Type.String({
    pattern: HTTP_URL,
    ...unset('`http://localhost:<port it listens on>`'),
    description: 'Where clients reach the service, `http(s)://host[:port][/path]`: the base of the URLs in the discovery ' +
      'document; its path (only) is the OpenAPI document\'s relative server. Never taken from a request\'s `Host` header.'
  })),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'Port to listen on (read by fastify-cli too).' }),
  // Encrypts private signing keys and the service's other secrets at rest (AES-256-GCM).
  KEY_ENCRYPTION_KEY: Type.Optional(Type.String({
    minLength: 32,
    description: 'At least 32 characters: encrypts private signing keys and the service\'s secrets in the store ' +
      '(AES-256-GCM). Keep it outside the database and its backups. Unset: they are stored in the clear. See ' +
      '[Files and secrets at rest](operations.md#files-and-secrets-at-rest).'
  })),
  ACCESS_TOKEN_TTL: Type.Integer({ default: 900, minimum: 10, maximum: MAX_ACCESS_TOKEN_TTL_SECONDS, description: 'Access token lifetime, in seconds.' }),
  REFRESH_TOKEN_TTL: Type.Integer({
    default: 2592000,
    minimum: 60,
    maximum: 31536000,
    description: 'Refresh token lifetime, in seconds (the default is 30 days), renewed at each refresh.'
  }),
  REFRESH_REUSE_GRACE: Type.Integer({
    default: 5,
    minimum: 0,
    maximum: 60,
    description: 'Seconds during which a just-spent refresh token may be presented again (racing its successor) without counting as reuse.'
  }),
  SIGNUP_ENABLED: Type.Boolean({ default: false, description: '`true` opens `POST /signup`; `false`: the route does not exist (404).' }),
  REVOCATION_SYNC_INTERVAL: Type.Number({
    default: 0.5,
    minimum: 0.05,
    maximum: 3600,
    description: 'Seconds between reads of the change log (revocations, keys made or deleted by other processes), hints ' +
      'or not; hints from Redis or PostgreSQL make a read come sooner. Also paces key upkeep.'
  }),
  SESSION_PURGE_INTERVAL: Type.Integer({
    default: 3600,
    minimum: 1,
    maximum: 86400,
    description: 'Seconds between purges of ended sessions, unusable refresh tokens and the change log\'s entries older than a day.'
  }),
  JWT_ISSUER: Type.String({ default: 'auth-service', minLength: 1, description: '`iss` of issued tokens, and the only one accepted.' }),
  JWT_AUDIENCE: Type.String({ default: 'auth-service', minLength: 1, description: '`aud` of issued tokens, and the only one accepted.' }),
  JWT_CLOCK_TOLERANCE: Type.Integer({ default: 5, minimum: 0, maximum: 300, description: 'Seconds of leeway for `exp`, `nbf` and `iat` between clocks.' }),
  // ES256 by default (docs/security.md, "Signing keys, JWKS and rotation", says why). HS256 only with a
  // shared JWT_SECRET.
  JWT_ALGORITHM: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA'), Type.Literal('RS256'), Type.Literal('HS256')], {
    default: 'ES256',
    description: 'Signing algorithm of access tokens: `ES256`, `EdDSA` or `RS256` with key pairs the service makes and ' +
      'keeps in the store, or `HS256` with a shared `JWT_SECRET` (which it requires).'
  }),
  // Length is counted in characters, and a character is at least one byte, so 32 characters ≥ 32 bytes.
  JWT_SECRET: Type.Optional(Type.String({
    minLength: 32,
    description: 'A shared HS256 secret of at least 32 characters (so at least 32 bytes), with `JWT_ALGORITHM=HS256`, ' +
      'for deployments where other services verify with the same secret. Unset: key pairs are generated and kept in ' +
      'the store, so tokens survive restarts. There is no default secret.'
  })),
  KEY_PUBLISH_DELAY: Type.Integer({
    default: 600,
    minimum: 0,
    maximum: 86400,
    description: 'Seconds a new key is published (in the JWKS) before it signs: longer than consumers cache the JWKS.'
  }),
  KEY_ROTATION_INTERVAL: Type.Integer({
    default: 0,
    minimum: 0,
    maximum: 31536000,
    description: 'Seconds between automatic key rotations; `0` turns them off (keys then rotate only on the CLI\'s `keys rotate`).'
  }),
  ADMIN_USERNAME: Type.String({ default: 'admin', minLength: 1, maxLength: 64, description: 'The first administrator\'s name (role `admin`).' }),
  ADMIN_PASSWORD: Type.Optional(Type.String({
    minLength: 8,
    maxLength: 1024,
    description: 'With it, start-up creates `ADMIN_USERNAME` if absent (never overwrites an existing user); it must pass ' +
      'the password policy, or start-up fails naming `ADMIN_PASSWORD`. Without it and with an empty store, a random ' +
      'password is generated and written to `ADMIN_PASSWORD_FILE`.'
  })),
  // New passwords (docs/security.md, "Passwords"): at least this many characters; 15 where the password is
  // the only factor.
  PASSWORD_MIN_LENGTH: Type.Integer({
    default: 8,
    minimum: 8,
    maximum: 64,
    description: 'Minimum length of a new password, in characters (code points of the NFKC form); 15 is recommended ' +
      'where the password is the only factor (see [Passwords](security.md#passwords)).'
  }),
  // Have I Been Pwned's k-anonymity range API: only the first 5 hex characters of the password's SHA-1 are sent.
  BREACHED_PASSWORD_CHECK: Type.Boolean({
    default: false,
    description: '`true` refuses new passwords listed by Have I Been Pwned\'s Pwned Passwords, asked through its ' +
      'k-anonymity range API (only the first 5 hex characters of the password\'s SHA-1 are sent). When the API cannot ' +
      'answer, the password is accepted and a warning logged (see [Passwords](security.md#passwords)).'
  }),
  BREACHED_PASSWORD_API_URL: Type.String({
    default: 'https://api.pwnedpasswords.com',
    pattern: HTTP_URL,
    description: 'Base URL of a Pwned Passwords range API (`GET <url>/range/<prefix>`), e.g. a mirror inside your network.'
  }),
  BREACHED_PASSWORD_TIMEOUT: Type.Number({
    default: 2,
    minimum: 0.1,
    maximum: 30,
    description: 'Seconds to wait for the breached-password API before accepting the password without its answer.'
  }),
  ADMIN_PASSWORD_FILE: Type.String({
    default: './data/admin-password.txt',
    minLength: 1,
    description: 'Where a generated admin password is written (mode 0600).'
  }),
  // OWASP's minimum for argon2id is m=19 MiB, t=2, p=1: configuration may raise it, never lower it.
  ARGON2_MEMORY_KIB: Type.Integer({
    default: 19456,
    minimum: 19456,
    maximum: 4194304,
    description: 'argon2id memory cost, in KiB; may be raised, never below OWASP\'s minimum of 19 MiB.'
  }),
  ARGON2_TIME_COST: Type.Integer({ default: 2, minimum: 2, maximum: 100, description: 'argon2id iterations (at least 2, OWASP\'s minimum).' }),
  ARGON2_PARALLELISM: Type.Integer({ default: 1, minimum: 1, maximum: 16, description: 'argon2id lanes (degree of parallelism).' }),
  // Unset: one less than the cores this process may use (at least one), so a core stays for the event loop.
  HASH_CONCURRENCY: Type.Optional(Type.Integer({
    minimum: 1,
    maximum: 256,
    ...unset('cores − 1 (at least 1)'),
    description: 'Password hashes computed at once; the rest wait, so a login storm cannot take the event loop\'s core. ' +
      'Unset: one less than the cores this process may use, at least one.'
  })),
  SHUTDOWN_GRACE: Type.Integer({
    default: 10,
    minimum: 0,
    maximum: 600,
    description: 'Seconds requests in flight have to finish on SIGTERM or SIGINT (see [Start-up, health and ' +
      'shutdown](operations.md#start-up-health-and-shutdown)). `npm start` also gives fastify-cli this + 5 s (its `-g`): see [Read by fastify-cli](#read-by-fastify-cli).'
  }),
  // @fastify/under-pressure: 503 with Retry-After while the event loop lags or the heap is nearly full.
  MAX_EVENT_LOOP_DELAY: Type.Integer({
    default: 1000,
    minimum: 0,
    maximum: 60000,
    description: 'Mean event-loop delay, in milliseconds, above which requests get 503 with `Retry-After` ' +
      '(`@fastify/under-pressure`); `0` turns the check off.'
  }),
  MAX_HEAP_USED_MB: Type.Optional(Type.Integer({
    minimum: 16,
    maximum: 65536,
    ...unset('90 % of the heap limit'),
    description: 'Heap in use, in MB (2^20 bytes), above which requests get 503 with `Retry-After` (`@fastify/under-pressure`).'
  })),
  // The per-account login throttle (docs/security.md, "Abuse resistance").
  LOGIN_THROTTLE_FREE_FAILURES: Type.Integer({
    default: 5,
    minimum: 1,
    maximum: 1000,
    description: 'Login attempts on one account from one address that may fail before that address waits ' +
      '(see [Guessing passwords: the per-account throttle](security.md#guessing-passwords-the-per-account-throttle)).'
  }),
  LOGIN_THROTTLE_ACCOUNT_FAILURES: Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 1000000,
    description: 'Failed logins on one account from all addresses (within `LOGIN_THROTTLE_WINDOW`) after which every ' +
      'address that failed on it waits from its first failure.'
  }),
  LOGIN_THROTTLE_BASE_WAIT: Type.Number({
    default: 1,
    minimum: 0.001,
    maximum: 3600,
    description: 'Seconds of the first wait; each further attempt doubles it.'
  }),
  LOGIN_THROTTLE_MAX_WAIT: Type.Integer({ default: 900, minimum: 1, maximum: 86400, description: 'The longest wait, in seconds.' }),
  LOGIN_THROTTLE_WINDOW: Type.Integer({
    default: 900,
    minimum: 1,
    maximum: 86400,
    description: 'Seconds after its last attempt that an address\'s count on an account is forgotten (plus the longest wait).'
  }),
  LOGIN_THROTTLE_MAX_KEYS: Type.Integer({
    default: 100000,
    minimum: 100,
    maximum: 10000000,
    description: 'Counters kept (in memory, or in Redis), the least recently used forgotten first.'
  }),
  HASH_QUEUE_LIMIT: Type.Integer({
    default: 1000,
    minimum: 0,
    maximum: 100000,
    description: 'Logins that may wait for a hashing slot; beyond it, 503 with `Retry-After: 1`. One address may hold a ' +
      'twentieth of it (at least 4), beyond that 429 (see [Fair hashing](security.md#fair-hashing)).'
  }),
  // Per-client-address rate limits (plugins/rate-limit.ts): requests a window, per address and route.
  // docs/security.md, "Per-address rate limits", gives the reasoning behind each default.
  RATE_LIMIT_WINDOW: Type.Integer({ default: 60, minimum: 1, maximum: 86400, description: 'Seconds of one rate-limit window.' }),
  RATE_LIMIT_LOGIN: Type.Integer({
    default: 100,
    minimum: 1,
    maximum: 1000000,
    description: 'Logins a window from one client address, on `POST /login` and on each `/login/*` route (each counted on its own); then 429.'
  }),
  RATE_LIMIT_REFRESH: Type.Integer({ default: 600, minimum: 1, maximum: 1000000, description: '`POST /token/refresh` requests a window from one address.' }),
  RATE_LIMIT_SIGNUP: Type.Integer({ default: 10, minimum: 1, maximum: 1000000, description: '`POST /signup` requests a window from one address.' }),
  RATE_LIMIT_PASSWORD_CHANGE: Type.Integer({
    default: 10,
    minimum: 1,
    maximum: 1000000,
    description: '`PUT /me/password` requests a window from one address (counted once the token is verified).'
  }),
  RATE_LIMIT_MAX_KEYS: Type.Integer({
    default: 50000,
    minimum: 1,
    maximum: 1000000,
    description: 'Rate-limit counters kept in memory (without Redis, or while it is down), the least recently used ' +
      'dropped first; about 270 bytes each.'
  }),
  // Fastify's trustProxy. Read at import by src/http/server-options.ts (through src/config/load.ts).
  TRUST_PROXY: Type.String({
    default: 'false',
    description: 'Which peers may give the client\'s address in `X-Forwarded-For`: `false`, a hop count (`1` to `10`: ' +
      'that many nearest peers are trusted), a comma-separated list of proxy addresses or CIDRs (`10.0.0.0/8,127.0.0.2`; ' +
      'also `loopback`, `linklocal`, `uniquelocal`), or `true` (every peer: only when nothing else can reach the ' +
      'service). Set it behind a proxy, never without one. Trusting 127.0.0.1 or ::1 (`loopback`) trusts every local ' +
      'process: warned about at start. See [Client addresses behind a proxy](security.md#client-addresses-behind-a-proxy-trust_proxy).'
  }),
  // GET /metrics (docs/operations.md, "Metrics"). A secret: never logged.
  METRICS_TOKEN: Type.Optional(Type.String({
    minLength: 32,
    maxLength: 1024,
    pattern: '^[\\x21-\\x7e]+$',
    description: 'A secret of at least 32 visible ASCII characters (no spaces): `GET /metrics` then answers whoever ' +
      'sends `Authorization: Bearer <token>`, from anywhere, and nobody else. Unset: loopback peers only. Never ' +
      'logged. See [Metrics](operations.md#metrics).'
  })),
  CORS_ORIGINS: Type.Optional(Type.String({
    description: 'Browser origins allowed to call the API (CORS), comma-separated, exact (`https://app.example.com`). ' +
      'Unset: no CORS headers at all.'
  })),
  // The OpenAPI document and Swagger UI, made from the route schemas.
  DOCS_ENABLED: Type.Boolean({
    default: true,
    description: 'Serve the API documentation: Swagger UI at `/docs` and the OpenAPI 3 document at `/docs/json` (and ' +
      '`/docs/yaml`); `false` serves neither (404).'
  })
})

export type Config = Static<typeof ConfigSchema>

// Variables the service does not read, but the programs that start it do (docs/configuration.md, "Read by
// fastify-cli"). fastify-cli takes every FASTIFY_* variable as its option of that name; these two matter.
export interface OutsideVariable { name: string, default: string, description: string }

export const READ_BY_FASTIFY_CLI: readonly OutsideVariable[] = [
  {
    name: 'FASTIFY_ADDRESS',
    default: '`localhost`; `0.0.0.0` when fastify-cli detects Docker or Kubernetes',
    description: 'Address to listen on (fastify-cli\'s `-a`). Unset, fastify-cli listens on every interface if it ' +
      'detects a container (a `/.dockerenv` file or Docker in `/proc/self/cgroup`, `KUBERNETES_SERVICE_HOST` set, or a ' +
      'Kubernetes service-account token), on `localhost` otherwise. Set it explicitly in deployments: `127.0.0.1` ' +
      'behind a local proxy, `0.0.0.0` (or `::`) where other hosts must reach the service (see [Start-up, health ' +
      'and shutdown](operations.md#start-up-health-and-shutdown)).'
  },
  {
    name: 'FASTIFY_LOG_LEVEL',
    default: '`info` under `npm start`; fastify-cli\'s own default is `fatal`',
    description: 'Log level under `npm start` (its `-l`) and fastify-cli: `info` writes one access line a request, ' +
      '`warn` none (see [Logs](operations.md#logs)). `npm start` reads it from the environment only: set in `.env`, it does not reach ' +
      'the script (fastify-cli reads `.env` after the script has computed its arguments).'
  },
  {
    name: 'SHUTDOWN_GRACE',
    default: '`10`',
    description: 'Also in the schema (the service\'s own drain). `npm start` gives fastify-cli a grace of ' +
      '`SHUTDOWN_GRACE` + 5 seconds (its `-g`), so that fastify-cli never kills the process first; it reads it from ' +
      'the environment only: set in `.env`, it does not reach the script, and fastify-cli then ends a drain longer than ' +
      '10 s at 15 s. Running `fastify start` yourself, pass `-g` likewise (its default is 500 ms).'
  },
  {
    name: 'PORT',
    default: '`3000`',
    description: 'Also in the schema: fastify-cli listens on `FASTIFY_PORT`, else `PORT`, else 3000 (its `-p`).'
  }
]
