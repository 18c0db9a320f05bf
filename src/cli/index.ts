import { main } from './main';

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`husk: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
