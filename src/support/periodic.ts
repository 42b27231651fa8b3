// Runs `task` every `seconds`, never letting it keep the process alive, and reports failures to `onError`
// instead of letting them escape a timer. Returns the function that stops it.
export function every (seconds: number, task: () => Promise<void>, onError: (err: unknown) => void): () => void {
  const timer = setInterval(() => { task().catch(onError) }, seconds * 1000)
  timer.unref()
  return () => clearInterval(timer)
}
