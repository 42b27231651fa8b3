// HTTP servers that are shutting down: their request handler answers every new request with 503 and
// Retry-After (src/app.ts), before any Fastify routing, while the requests already in flight finish.
export const draining = new WeakSet<object>()
