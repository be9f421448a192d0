/** Attributes the samples of a V8 CPU profile to the packages and project directories whose code ran them. */

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function owner(url: string): string | undefined {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const own = /\/(functions|local|bench)\/(?:([^/]+)\/)?/.exec(url);
  if (own) return own[2] && !own[2].includes(".") ? `${own[1]}/${own[2]}/` : `${own[1]}/`;
  return undefined;
}

/** Self time per owner: a sample goes to its leaf's nearest ancestor frame with an owner. */
export function attribute(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const leaf = byId.get(id);
    const special = ["(idle)", "(garbage collector)", "(program)"].find(
      (s) => s === leaf?.callFrame.functionName,
    );
    let key = special;
    for (let cur: number | undefined = id; !key && cur !== undefined; cur = parent.get(cur)) {
      key = owner(byId.get(cur)?.callFrame.url ?? "");
    }
    key ??= "(node internals)";
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}
