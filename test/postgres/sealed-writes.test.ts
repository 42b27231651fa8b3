// test/sealed-writes.test.ts against PostgreSQL: a database of each test's own on the server at TEST_POSTGRES_URL.
process.env.TEST_DATABASE = 'postgres'
await import('../sealed-writes.test.js')
