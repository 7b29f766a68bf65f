/**
 * Exchanges per behavior name, for a proxy's stats. Counted once per exchange: a keyed store on
 * one plain object, by a name that varies under a mix, was 1.2 % of the proxy's CPU at redis
 * `10:error` in the profile (0.1 % this way). Most are `dummy` (nothing acted): a field of their own.
 */
export class BehaviorCounts {
  private dummies = 0;
  private readonly named = new Map<string, number>();

  /** One exchange of `behavior`; true when it was a fault (anything but dummy). */
  add(behavior: string): boolean {
    if (behavior === 'dummy') {
      this.dummies++;
      return false;
    }
    this.named.set(behavior, (this.named.get(behavior) ?? 0) + 1);
    return true;
  }

  /** A copy, as stats() reports it: a name appears once it was counted. */
  snapshot(): Record<string, number> {
    const named = Object.fromEntries(this.named);
    return this.dummies ? { dummy: this.dummies, ...named } : named;
  }
}
