// Preloaded into a runner process by the benchmark: reports its peak resident memory at exit.
// VmHWM, not resourceUsage().maxRSS: Linux carries maxRSS across exec, so a child spawned by a
// large bench process would report the bench's own size.
const { readFileSync } = require('node:fs');

process.on('exit', () => {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  process.stderr.write(`\nmax-rss-kib ${hwm ? hwm[1] : process.resourceUsage().maxRSS}\n`);
});
