// Preloaded into the service under test (node --import): measures event-loop delay inside the process.
// Asked over the IPC channel the bench opens, it answers {p50, p99, max} in milliseconds for the window
// since the last question, and starts a new window. (Signals are taken: close-with-grace handles them.)
import { monitorEventLoopDelay } from 'node:perf_hooks'

const histogram = monitorEventLoopDelay({ resolution: 1 })
histogram.enable()
process.channel?.unref() // the channel must not keep the service alive
process.on('message', (message) => {
  if (message !== 'event-loop-delay') return
  const ms = (ns: number) => ns / 1e6
  process.send!({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) })
  histogram.reset()
})
