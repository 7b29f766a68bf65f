import { act, defineBehavior, durationOption, z, type ConnectionContext } from '../src/proxy/plugin.js';

/** Linux's ceiling on one retransmission timeout (TCP_RTO_MAX): backoff doubles up to it. */
const RTO_MAX_MS = 120_000;

/**
 * Toxiproxy's `packet_loss` (`loss_rate`, `correlation`), as TCP lives it. A TCP peer never sees
 * a segment go missing: the sender sends it again after a retransmission timeout, and again after
 * twice that when the copy is lost too. So a lost exchange arrives whole but late, and holds the
 * exchanges behind it on its connection; past `max_retransmits` lost copies the sender gives up
 * and the connection is reset. (Toxiproxy drops the chunk: the bytes after it are then garbage to
 * the protocol, which no real network does to a TCP stream.)
 *
 * Losses come in bursts, as on a poor Wi-Fi link: after a lost segment, the next one is lost with
 * `loss_rate + correlation`. The link is the proxy's, so its connections share the burst.
 */
export default defineBehavior({
  name: 'packet_loss',
  description: 'Loses loss_rate of the segments (more after a loss: correlation); each lost one is resent after rto ms, doubling, as TCP does.',
  options: z.object({
    loss_rate: z.number().min(0).max(1).default(0.1),
    correlation: z.number().min(0).max(1).default(0),
    rto: durationOption().max(RTO_MAX_MS, { error: `at most ${RTO_MAX_MS} ms, the longest TCP waits before resending` }).default(200),
    max_retransmits: z.number().int().min(0).max(15).default(6),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) => {
    // Drawn first, so that an exchange the toxic spares leaves the link's burst as it was.
    if (ctx.random() >= o.toxicity) return undefined;
    let lost = 0;
    while (lost <= o.max_retransmits && lose(ctx, o)) lost++;
    if (lost === 0) return undefined;
    const waited = retransmissionWait(o.rto, lost);
    return lost > o.max_retransmits ? act.reset(waited) : act.delay(waited, o.stream);
  },
});

/** One segment sent over the proxy's link: lost or not, given whether the last one was. */
function lose(ctx: ConnectionContext, o: { loss_rate: number; correlation: number }): boolean {
  const p = ctx.state.get('lastLost') ? o.loss_rate + o.correlation : o.loss_rate;
  const lost = ctx.random() < p;
  ctx.state.set('lastLost', lost);
  return lost;
}

/** The time `lost` timed-out transmissions take: rto, then twice as long each time, up to RTO_MAX_MS. */
function retransmissionWait(rto: number, lost: number): number {
  let total = 0;
  for (let i = 0; i < lost; i++) total += Math.min(rto * 2 ** i, RTO_MAX_MS);
  return total;
}
