// Recognising the agent's own container when it runs as a sidecar: Docker bind-mounts
// /etc/hostname, /etc/hosts and /etc/resolv.conf from /var/lib/docker/containers/<id>/, which
// /proc/self/mountinfo shows; the container's hostname is its short id by default.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface SelfProbe {
  mountinfo(): string | undefined;
  hostname(): string;
}

export const systemProbe: SelfProbe = {
  mountinfo: () => {
    try {
      return readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return undefined;
    }
  },
  hostname: () => hostname(),
};

/** A predicate telling whether a container id is this process's own container. */
export function ownContainerMatcher(probe: SelfProbe = systemProbe): (containerId: string) => boolean {
  const fromMounts = /\/containers\/([0-9a-f]{64})\/(?:hostname|hosts|resolv\.conf)/.exec(
    probe.mountinfo() ?? '',
  )?.[1];
  const host = probe.hostname();
  const shortId = /^[0-9a-f]{12}$/.test(host) ? host : undefined;
  return (id) =>
    fromMounts !== undefined ? id === fromMounts : shortId !== undefined && id.startsWith(shortId);
}
