/**
 * The address of a server under test (`base_url:`, `url:`): an http:// or https:// URL. A value
 * without its scheme (`127.0.0.1:8000`, `localhost:8000/api`) is the usual slip: the error
 * shows it written right.
 */
import { z } from 'zod';

const EXAMPLE = 'http://127.0.0.1:8000';

export function httpUrlSchema(key: string) {
  return z.url({
    protocol: /^https?$/,
    error: (iss) => {
      const v = iss.input;
      if (typeof v !== 'string') return `expected an http:// or https:// URL, e.g. ${key}: ${EXAMPLE}`;
      const bare = !/^[a-z][a-z0-9+.-]*:\/\//i.test(v) && /^[\w.-]+(:\d+)?(\/\S*)?$|^\[[0-9a-f:.]+\](:\d+)?(\/\S*)?$/i.test(v);
      return `"${v}" is not an http:// or https:// URL; ${bare ? `write ${key}: http://${v}` : `e.g. ${key}: ${EXAMPLE}`}`;
    },
  });
}
