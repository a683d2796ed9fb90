import type { AgentInput } from './workflows.js';

/**
 * The example's script: three turns that build a small project, the third with a failing test that the
 * agent answers by rolling back to turn 2, then two fixes tried side by side in a fork.
 */
export function examplePlan(sessionId: string): AgentInput {
  return {
    sessionId,
    turns: [
      [
        { tool: 'exec', command: 'mkdir -p src && echo "turn 1" > NOTES.md' },
        { tool: 'writeFile', path: 'src/greet.sh', content: 'echo "hello, $1"\n' },
      ],
      [
        { tool: 'exec', command: 'sh src/greet.sh world > out.txt && cat out.txt' },
        { tool: 'writeFile', path: 'test.sh', content: 'test "$(sh src/greet.sh sbx)" = "hello, sbx"\n' },
        { tool: 'exec', command: 'sh test.sh && echo "turn 2" >> NOTES.md' },
      ],
      [
        { tool: 'writeFile', path: 'src/greet.sh', content: 'echo "bye, $1"\n' },
        { tool: 'exec', command: 'echo "turn 3" >> NOTES.md' },
        // The test fails against the change: the agent rolls back to turn 2.
        { tool: 'exec', command: 'sh test.sh' },
        { tool: 'exec', command: 'echo "never runs" >> NOTES.md' },
      ],
    ],
    fork: {
      newSessionId: `${sessionId}-alt`,
      planA: [
        { tool: 'writeFile', path: 'src/greet.sh', content: 'echo "hello, $1!"\n' },
        { tool: 'exec', command: 'sed -i "s/sbx\\"/sbx!\\"/" test.sh && sh test.sh && echo "plan A" >> NOTES.md' },
      ],
      planB: [
        { tool: 'exec', command: 'echo "plan B" >> NOTES.md && cat NOTES.md' },
        { tool: 'readFile', path: 'out.txt' },
      ],
    },
  };
}
