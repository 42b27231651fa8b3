// Baseline 1: the ceiling for our protected route. Same text, no authentication, no logging.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/', (_request, reply) => {
  reply.type('text/plain; charset=utf-8').send('Welcome, bench-user-1!')
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
process.stdout.write('listening\n')
