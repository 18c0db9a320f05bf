import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => {
    // A failure exits at once, as before; success lets what is pending (a log write) finish.
    if (code !== 0) process.exit(code);
  },
  (e) => {
    process.stderr.write(`husk: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
