// A fixture coding agent for the workspaces example (copied into the example's repository as
// tools/fake-agent.mjs): reads its turn's input from stdin and edits files as an agent would,
// leaving them uncommitted; statecrew commits them. A turn whose input reports a failed check
// or a merge conflict is a fix turn.
// Usage: node tools/fake-agent.mjs <task>
import fs from 'node:fs';

const task = process.argv[2];
const input = fs.readFileSync(0, 'utf8');
const fix = /failed after your changes|conflicts in/.test(input);
const write = (file, text) => {
  fs.mkdirSync(file.split('/').slice(0, -1).join('/') || '.', { recursive: true });
  fs.writeFileSync(file, text);
};
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

switch (task) {
  case 'greet':
    write('src/greet.js', "export function greet(name) {\n  return `Hello, ${name}!`;\n}\n");
    break;
  case 'math':
    write('src/math.js', 'export function add(a, b) {\n  return a + b;\n}\n');
    break;
  case 'cli':
    if (!fs.existsSync('src/greet.js') || !fs.existsSync('src/math.js')) {
      console.error('cli needs src/greet.js and src/math.js, merged by the milestones it depends on');
      process.exit(1);
    }
    write('src/cli.js', "import { greet } from './greet.js';\nimport { add } from './math.js';\n\nconsole.log(greet('world'), add(2, 3));\n");
    break;
  case 'docs':
    if (fix) {
      fs.appendFileSync('docs/usage.md', '\n## Examples\n\n    node src/cli.js   # Hello, world! 5\n');
    } else {
      write('docs/usage.md', '# Usage\n\nRun `node src/cli.js`.\n');
    }
    break;
  case 'changelog-a':
  case 'changelog-b':
    if (fix) {
      // Resolve the conflict: keep both sides' lines.
      const text = fs.readFileSync('CHANGELOG.md', 'utf8');
      fs.writeFileSync('CHANGELOG.md', text.split('\n').filter((line) => !/^(<<<<<<<|=======|>>>>>>>)/.test(line)).join('\n'));
    } else {
      await pause(300);
      fs.appendFileSync('CHANGELOG.md', task === 'changelog-a' ? '- Added a greeting.\n' : '- Added addition.\n');
    }
    break;
  default:
    console.error(`unknown task ${task}`);
    process.exit(2);
}
console.log(`${task}: ${fix ? 'fix turn' : 'turn'} done on ${process.env.STATECREW_BRANCH}`);
