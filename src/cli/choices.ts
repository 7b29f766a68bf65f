/**
 * A flag or argument that takes one of a few words, its parser: a misspelt word gets 'did you
 * mean', as it does in a config file (src/config) and for a command's name. Commander's own
 * choices() check names the choices only; it is still set, so that --help lists them.
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
