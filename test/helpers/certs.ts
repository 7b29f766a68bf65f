/**
 * A test CA and a server certificate it signed (for localhost and 127.0.0.1), made by the real
 * openssl command, as an operator would make them for a test server.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCerts {
  ca: string;
  cert: string;
  key: string;
  /** A second CA, which signed nothing here: a client trusting only it refuses `cert`. */
  otherCa: string;
}

export async function makeCerts(dir: string): Promise<TestCerts> {
  const f = (name: string) => path.join(dir, name);
  const req = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'];
  await run('openssl', [...req, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=marteau test CA']);
  await run('openssl', [...req, '-keyout', f('other-ca.key'), '-out', f('other-ca.crt'), '-subj', '/CN=another CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('san.ext'), '-out', f('server.crt')]);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key'), otherCa: f('other-ca.crt') };
}
