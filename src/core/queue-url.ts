/** Moved down to config/ (the config loader parses `queue:`); kept until its last importers move. */
export { parseQueueUrl, QueueUrlError, type QueueUrl } from '../config/queue-url.js';
