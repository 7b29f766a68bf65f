/**
 * Parsers of flags whose values are words: one of a few (a misspelt word gets 'did you mean', as
 * it does in a config file (src/config) and for a command's name; commander's own choices() check
 * names the choices only, and is still set so that --help lists them), and a token.
 */
import { InvalidArgumentError } from 'commander';
import { closest } from '../text/closest.js';

/** The parser of a value that must be one of `values` (after commander's "argument 'x' is invalid."). */
export function oneOf(values: readonly string[]): (value: string) => string {
  return (value) => {
    if (values.includes(value)) return value;
    const near = closest(value, values);
    throw new InvalidArgumentError(near ? `Did you mean "${near}"? (choices: ${values.join(', ')})` : `Allowed choices are ${values.join(', ')}.`);
  };
}

/**
 * Why a control API token cannot be used, or undefined. A blank one guards nothing (an empty
 * --api-token was read as none at all), and a space would not survive the Bearer header that
 * carries it (its value is trimmed and cut at the first space). `given` names where it came from.
 */
export function tokenProblem(token: string, given = '--api-token'): string | undefined {
  if (!/\s/.test(token) && token) return undefined;
  return `${token.trim() ? 'a token cannot hold spaces' : 'a blank token protects nothing'}: give one without spaces, e.g. ${given}${given.startsWith('-') ? ' ' : '='}"$(openssl rand -hex 16)"`;
}

/** The parser of --api-token (after commander's "argument 'x' is invalid."). */
export function apiToken(value: string): string {
  const problem = tokenProblem(value);
  if (problem) throw new InvalidArgumentError(`${problem[0].toUpperCase()}${problem.slice(1)}`);
  return value;
}
