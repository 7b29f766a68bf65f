// The few autocannon types bench:runner uses (the package ships none).
declare module 'autocannon' {
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    /** Stop after this many requests instead of a duration. */
    amount?: number;
    pipelining?: number;
    headers?: Record<string, string>;
  }
  interface Result {
    requests: { total: number; average: number };
    errors: number;
    non2xx: number;
    /** Seconds it actually ran (it stops on a 1 s sample tick). */
    duration: number;
  }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
