// Preloaded into the service under test (node --import): measures event-loop delay inside the process,
// only between the bench's 'start' and 'stop' messages over the IPC channel it opens (so the sampling timer
// costs nothing during the throughput rounds). 'stop' answers {p50, p99, max} in milliseconds.
// (Not signals: close-with-grace, which fastify-cli uses, takes them all.)
import { monitorEventLoopDelay } from 'node:perf_hooks'

const histogram = monitorEventLoopDelay({ resolution: 1 })
process.channel?.unref() // the channel must not keep the service alive
process.on('message', (message) => {
  if (message === 'start') {
    histogram.reset()
    histogram.enable()
    process.send!('started')
  } else if (message === 'stop') {
    histogram.disable()
    const ms = (ns: number) => ns / 1e6
    process.send!({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) })
  }
})
