// The test support kit: environment and databases, the servers suites need, app building, HTTP client
// helpers, token forging, processes, faults, and timed waits. Tests import it from here; the bench imports
// the modules it shares (env, databases, processes) directly.
export * from './app.js'
export * from './client.js'
export * from './databases.js'
export * from './dependencies.js'
export * from './env.js'
export * from './faults.js'
export * from './processes.js'
export * from './tokens.js'
export * from './wait.js'
