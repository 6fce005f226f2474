// What the agent reports: one result per running container, one state per node. The wire
// types live in pkg/api/types.ts, shared with the Grafana backend, the plugin and the tests.

export {
  CONTAINER_STATUSES,
  STATUS_SEVERITY,
  countStatuses,
  type ContainerResult,
  type NodeHealth,
  type NodeState,
  type StatusCounts,
} from '../api/types';
