/**
 * A job's chaos scenario over its control APIs: PUT /marteau/proxies/{proxy}/scenario with
 * {"paused": true|false} pauses a proxy's scenario or lets it follow the scenario again, as `s`
 * does in the control center running the job. A control center beside that process uses it (a
 * mix it sets pauses the scenario there), and so may a script using the job's `api:`.
 */
import { ApiError, jsonBody, type Route } from '../proxy/api/http.js';
import type { ChaosPlayer, ScheduleView } from './chaos-player.js';

/** `player`: the job's chaos player, once it has one (its APIs start before it). */
export function scenarioRoutes(player: () => ChaosPlayer | undefined): Route[] {
  return [
    {
      methods: ['PUT'], pattern: '/marteau/proxies/:proxy/scenario',
      handler: async (r) => {
        const body = jsonBody(r, '') as { paused?: unknown } | undefined;
        if (typeof body?.paused !== 'boolean') throw new ApiError(400, 'give {"paused": true} or {"paused": false}', 'paused');
        const chaos = player();
        const name = r.params.proxy;
        const view = (): ScheduleView | undefined => chaos?.view().find((v) => v.proxy === name);
        const before = view();
        if (!before) throw new ApiError(404, 'proxy not found', 'proxy', 'url');
        if (!before.current && before.remaining === 0) throw new ApiError(409, `proxy "${name}" has no chaos scenario`, 'proxy', 'url');
        if (body.paused) chaos!.pause(name);
        else await chaos!.resume(name);
        return { status: 200, json: view() };
      },
    },
  ];
}
