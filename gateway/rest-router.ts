// Matches a method and a path against route patterns such as
// `/node/{hostname}/certificate/ca/{name}`. A `{param}` matches one non-empty
// segment and is percent-decoded (`env%3Aprod` and `env:prod` are the same).
// A path that matches under another method is a 405 with `Allow`; no match is 404.
import { HttpError } from "./error-body.js";

export interface RoutePattern {
  readonly method: string;
  readonly path: string;
}

export interface RouteMatch<Route> {
  readonly route: Route;
  readonly params: Readonly<Record<string, string>>;
}

type Segment = { literal: string } | { param: string };

interface CompiledRoute<Route> {
  readonly route: Route;
  readonly method: string;
  readonly segments: readonly Segment[];
}

export class RestRouter<Route extends RoutePattern> {
  private readonly compiled: readonly CompiledRoute<Route>[];

  constructor(routes: readonly Route[]) {
    this.compiled = routes.map((route) => ({ route, method: route.method, segments: compile(route.path) }));
  }

  /** The route for this method and path; throws the 404 or 405 HttpError otherwise. */
  match(method: string, pathname: string): RouteMatch<Route> {
    const parts = pathname.split("/").slice(1);
    const allowed: string[] = [];
    for (const candidate of this.compiled) {
      const params = matchSegments(candidate.segments, parts);
      if (!params) continue;
      if (candidate.method === method) return { route: candidate.route, params: decodeParams(params) };
      if (!allowed.includes(candidate.method)) allowed.push(candidate.method);
    }
    if (allowed.length > 0) {
      const allow = allowed.sort().join(", ");
      throw new HttpError(405, "method not allowed", `${pathname} allows ${allow}, not ${method}`, { allow });
    }
    throw new HttpError(404, "route not found", `no route for ${method} ${pathname}`);
  }
}

function compile(path: string): Segment[] {
  return path
    .split("/")
    .slice(1)
    .map((segment) => {
      const param = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(segment);
      return param ? { param: param[1]! } : { literal: segment };
    });
}

function matchSegments(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index]!;
    const part = parts[index]!;
    if ("literal" in segment) {
      if (segment.literal !== part) return undefined;
      continue;
    }
    if (part.length === 0) return undefined;
    params[segment.param] = part;
  }
  return params;
}

function decodeParams(raw: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, part] of Object.entries(raw)) {
    try {
      params[name] = decodeURIComponent(part);
    } catch {
      throw new HttpError(400, "invalid path", `"${part}" is not valid percent-encoding`);
    }
  }
  return params;
}
