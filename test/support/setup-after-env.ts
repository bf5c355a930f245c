// Each test file gets its own database from the one server global-setup started.
if (!process.env.TEST_PG_ADMIN_URL) {
  throw new Error('TEST_PG_ADMIN_URL is not set: run the tests with `npm test` so jest global setup starts PostgreSQL');
}
