/**
 * Preloaded (`--import`) into a command the bench times: at exit the process writes its own
 * resource usage (process.resourceUsage(): maxRSS in KiB, user and system CPU in µs) as JSON to
 * file descriptor 3, which the bench opened as a pipe. Its own figures, not sampled from outside.
 */
import { writeSync } from 'node:fs';

process.on('exit', () => {
  writeSync(3, JSON.stringify(process.resourceUsage()));
});
