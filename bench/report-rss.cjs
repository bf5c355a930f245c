// Preloaded into a runner process by the benchmark: reports its peak resident memory at exit.
process.on('exit', () => {
  process.stderr.write(`\nmax-rss-kib ${process.resourceUsage().maxRSS}\n`);
});
