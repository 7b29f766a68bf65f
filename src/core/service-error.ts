/** A job's service that could not start or be reached; in its own module so the engine's start need not load services.ts. */
export class ServiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceError';
  }
}
