/** An SMTP server (the smtp-server package) for bench:proxy, in its own process: prints its port. */
import { startSmtpServer } from '../test/helpers/smtp.js';

const server = await startSmtpServer();
console.log(server.port);
