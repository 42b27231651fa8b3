// Baseline 1: the ceiling for our protected route. Same text, no authentication; with LOG=info, Fastify's
// default request logging at info (two lines a request), otherwise no logger at all.
import Fastify from 'fastify'

const app = Fastify({ logger: process.env.LOG === 'info' ? { level: 'info' } : false })
app.get('/', (_request, reply) => {
  reply.type('text/plain; charset=utf-8').send('Welcome, bench-user-1!')
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.stdout.write('listening\n')
