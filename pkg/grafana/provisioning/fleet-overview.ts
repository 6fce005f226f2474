// "imagetrust / Fleet overview" (uid imagetrust-fleet): the trust map of every node, the fleet's
// untrusted / unknown / unreachable counts from Prometheus, node up over time, every container and
// the containers-by-status history. Filtered by $node and $status; links to the node detail.

import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import { PROMETHEUS, IMAGETRUST } from './datasources';
import {
  builtInAnnotations,
  containersTable,
  dashboardLink,
  imagetrust,
  nodeVariable,
  statusHistory,
  statusVariable,
  thresholds,
  trustChangeAnnotations,
} from './panels';
import { TrustmapPanelBuilder } from './trustmap-panel';

export const FLEET_OVERVIEW_UID = 'imagetrust-fleet';

/** An instant PromQL query for a single-number stat. */
function promInstant(expr: string): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .refId('A')
    .datasource(PROMETHEUS)
    .expr(expr)
    .legendFormat('__auto')
    .instant()
    .editorMode(prometheus.QueryEditorMode.Code);
}

/** A whole-fleet count from Prometheus: green at 0, `alarm` from 1 on. */
function fleetCount(options: {
  title: string;
  description: string;
  x: number;
  expr: string;
  alarm: string;
}): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title(options.title)
    .description(options.description)
    .datasource(PROMETHEUS)
    .gridPos({ x: options.x, y: 0, w: 4, h: 4 })
    .withTarget(promInstant(options.expr))
    .unit('none')
    .decimals(0)
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .thresholds(thresholds('green', options.alarm))
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).fields('').values(false))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.Value)
    .justifyMode(common.BigValueJustifyMode.Center)
    .orientation(common.VizOrientation.Auto)
    .wideLayout(true)
    .showPercentChange(false);
}

function nodeUpTimeline(): statetimeline.PanelBuilder {
  return new statetimeline.PanelBuilder()
    .title('Node up')
    .description('imagetrust_node_up per node.')
    .datasource(PROMETHEUS)
    .gridPos({ x: 12, y: 4, w: 12, h: 5 })
    .withTarget(
      new prometheus.DataqueryBuilder()
        .refId('A')
        .datasource(PROMETHEUS)
        .expr('imagetrust_node_up')
        .legendFormat('{{node}}')
        .range()
        .editorMode(prometheus.QueryEditorMode.Code),
    )
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: {
          '0': { text: 'down', color: 'red', index: 0 },
          '1': { text: 'up', color: 'green', index: 1 },
        },
      },
    ])
    .thresholds(thresholds('red', 'green'))
    .fillOpacity(80)
    .lineWidth(0)
    .showValue(common.VisibilityMode.Never)
    .mergeValues(true)
    .alignValue(common.TimelineValueAlignment.Left)
    .rowHeight(0.9)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(false)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Single)
        .sort(common.SortOrder.None),
    );
}

export function fleetOverview(): dashboard.Dashboard {
  return new dashboard.DashboardBuilder('imagetrust / Fleet overview')
    .uid(FLEET_OVERVIEW_UID)
    .id(null)
    .description('Is every running container built from an image we notarized as trusted?')
    .tags(['imagetrust'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .version(1)
    .timezone('browser')
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    .fiscalYearStartMonth(0)
    .liveNow(false)
    .weekStart('')
    .annotations([builtInAnnotations(), trustChangeAnnotations()])
    .variables([nodeVariable({ includeAll: true }), statusVariable()])
    .links([dashboardLink('Node detail', '/d/imagetrust-node?${node:queryparam}&${__url_time_range}')])
    .withPanel(
      new TrustmapPanelBuilder()
        .id(1)
        .title('Fleet trust map')
        .description('One tile per node, coloured by its worst container. Grey: the node is unreachable.')
        .datasource(IMAGETRUST)
        .gridPos({ x: 0, y: 0, w: 12, h: 9 })
        .withTarget(imagetrust('summary', { node: '$node' }))
        .tileBy('node')
        .showCounts(true)
        .minTileWidth(180),
    )
    .withPanel(
      fleetCount({
        title: 'Untrusted containers',
        description: 'Running containers whose image is notarized as untrusted (whole fleet).',
        x: 12,
        expr: 'sum(imagetrust_containers{status="untrusted"}) or vector(0)',
        alarm: 'red',
      }).id(2),
    )
    .withPanel(
      fleetCount({
        title: 'Unknown containers',
        description:
          'Running containers whose image was never notarized by an allowed signer, or could not be verified (whole fleet).',
        x: 16,
        expr: 'sum(imagetrust_containers{status="unknown"}) or vector(0)',
        alarm: 'orange',
      }).id(3),
    )
    .withPanel(
      fleetCount({
        title: 'Unreachable nodes',
        description: 'Nodes whose engine (or peer agent) does not answer.',
        x: 20,
        expr: 'count(imagetrust_node_up == 0) or vector(0)',
        alarm: 'red',
      }).id(4),
    )
    .withPanel(nodeUpTimeline().id(5))
    .withPanel(
      containersTable({
        title: 'Containers',
        description: 'Every running container judged by the image it runs. Filtered by $node and $status.',
        gridPos: { x: 0, y: 9, w: 24, h: 10 },
        params: { node: '$node', status: '$status' },
      }).id(6),
    )
    .withPanel(
      statusHistory({
        title: 'Containers by status',
        description: 'Counts of running containers by trust status over time, per node.',
        gridPos: { x: 0, y: 19, w: 24, h: 8 },
      }).id(7),
    )
    .build();
}
