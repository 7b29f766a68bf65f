/** Values that a shell would interpret if anything ever let one near them. */
export const HOSTILE = {
  args: ['$(touch PWNED1)', "it's", '`touch PWNED2`', 'a b  c', 'line1\nline2', '*', '; touch PWNED3', '"dq"', '\\n', '', '-n'],
  env: { HOSTILE_VALUE: "$(touch PWNED4) 'q' \"d\" `x`\nnext line; rm -rf /nonexistent" },
  dir: "we'ird $(touch PWNED5) dir",
};
