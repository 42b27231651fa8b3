// test/account.test.ts against PostgreSQL: a database of each test's own on the server at TEST_POSTGRES_URL.
import { againstPostgres } from '../support/dependencies.js'
await againstPostgres(() => import('../account.test.js'))
