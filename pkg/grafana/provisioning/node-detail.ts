// "imagetrust / Node detail" (uid imagetrust-node): every running container of one node ($node)
// as trust-map tiles and a table, its containers-by-status history, and the original vcn-watchdog
// setup's view from InfluxDB (the last vcn_verification point per container).

import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import { IMAGETRUST, INFLUXDB } from './datasources';
import { InfluxqlQueryBuilder } from './influxql-query';
import {
  builtInAnnotations,
  containersTable,
  dashboardLink,
  imagetrust,
  nodeVariable,
  statusHistory,
  thresholds,
  trustChangeAnnotations,
} from './panels';
import { TrustmapPanelBuilder } from './trustmap-panel';

export const NODE_DETAIL_UID = 'imagetrust-node';

const VCN_LAST_VERIFICATION =
  'SELECT last("failed"), last("status"), last("level") FROM "vcn_verification" ' +
  'WHERE "hostname" =~ /^$node$/ AND $timeFilter GROUP BY "container_name"';

/** InfluxDB names the three last() columns last, last_1, last_2: show them by what they hold. */
function vcnVerificationTable(): table.PanelBuilder {
  const failedCell: common.TableColoredBackgroundCellOptions = {
    type: common.TableCellDisplayMode.ColorBackground,
    mode: common.TableCellBackgroundDisplayMode.Basic,
  };
  const failedColours: dashboard.ThresholdsConfig = thresholds('green', 'red').build();
  const colourByThresholds: dashboard.FieldColor = { mode: dashboard.FieldColorModeId.Thresholds };
  return new table.PanelBuilder()
    .title('vcn_verification (InfluxDB)')
    .description("The original vcn-watchdog setup's view: the last verification per container on the node.")
    .datasource(INFLUXDB)
    .gridPos({ x: 12, y: 18, w: 12, h: 8 })
    .withTarget(
      new InfluxqlQueryBuilder(VCN_LAST_VERIFICATION).refId('A').datasource(INFLUXDB).resultFormat('table'),
    )
    .align(common.FieldTextAlignment.Auto)
    .cellOptions({ type: common.TableCellDisplayMode.Auto })
    .overrideByName('last', [
      { id: 'displayName', value: 'failed' },
      { id: 'custom.cellOptions', value: failedCell },
      { id: 'thresholds', value: failedColours },
      { id: 'color', value: colourByThresholds },
    ])
    .overrideByName('last_1', [{ id: 'displayName', value: 'status' }])
    .overrideByName('last_2', [{ id: 'displayName', value: 'level' }])
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm)
    .footer(new common.TableFooterOptionsBuilder().show(false).reducer(['sum']).countRows(false));
}

export function nodeDetail(): dashboard.Dashboard {
  return new dashboard.DashboardBuilder('imagetrust / Node detail')
    .uid(NODE_DETAIL_UID)
    .id(null)
    .description('Every running container of one node and its trust.')
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
    .variables([nodeVariable({ includeAll: false })])
    .links([dashboardLink('Fleet overview', '/d/imagetrust-fleet?${__url_time_range}')])
    .withPanel(
      new TrustmapPanelBuilder()
        .id(1)
        .title('Containers on $node')
        .description('One tile per container on the node, coloured by its trust status.')
        .datasource(IMAGETRUST)
        .gridPos({ x: 0, y: 0, w: 24, h: 8 })
        .withTarget(imagetrust('containers', { node: '$node' }))
        .tileBy('container')
        .showCounts(true)
        .minTileWidth(140),
    )
    .withPanel(
      containersTable({
        title: 'Containers on $node',
        description: 'Every running container on the node, judged by the image it runs.',
        gridPos: { x: 0, y: 8, w: 24, h: 10 },
        params: { node: '$node' },
      }).id(2),
    )
    .withPanel(
      statusHistory({
        title: 'Containers by status on $node',
        description: "Counts of the node's running containers by trust status over time.",
        gridPos: { x: 0, y: 18, w: 12, h: 8 },
      }).id(3),
    )
    .withPanel(vcnVerificationTable().id(4))
    .build();
}
