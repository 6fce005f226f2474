// What the /api/v1 HTTP API answers from: an agent (its own node and its peers) or the fleet
// store behind `imagetrust fleet serve`. Both give the same answers in the same shapes.

import type { ErrorCode } from '../errors';
import type { ImageDigest } from '../ledger/statement';
import type { LedgerStatements } from '../verify/builtin';
import type { ChangeEvent } from './history';
import type { CountPoint } from './series';
import type { ContainerResult, NodeState } from './types';
import type { ContainerFilter, FleetSummary, ImageSummary, LocalView } from './views';

export interface VerifyTarget {
  node?: string;
  container?: string;
}

/** A node that could not re-verify when asked: reported, never dropped. */
export interface UnverifiedNode {
  node: string;
  code: ErrorCode;
  message: string;
}

export interface ApiSource {
  /** Changes whenever the answers may have: serialized answers are reused until then. */
  readonly generation: string;
  health(): Promise<{ ok: boolean; status: string }>;
  /** What GET /api/v1 says about this server. */
  describe(): Record<string, unknown>;
  /** This node's own view; absent on a server that runs on no node (fleet serve). */
  local?(): LocalView;
  nodes(): Promise<NodeState[]>;
  containers(filter: ContainerFilter): Promise<ContainerResult[]>;
  images(filter: ContainerFilter): Promise<ImageSummary[]>;
  summary(): Promise<FleetSummary>;
  series(from: number, to: number, stepMs: number, node?: string): Promise<CountPoint[]>;
  events(from: number, to: number, node: string | undefined, limit: number): Promise<ChangeEvent[]>;
  statements(digest: ImageDigest): Promise<LedgerStatements>;
  verifyNow(target: VerifyTarget): Promise<ContainerResult[]>;
  verifyAll(): Promise<{ containers: ContainerResult[]; unreachable: UnverifiedNode[] }>;
}
