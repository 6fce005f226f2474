// Pieces both imagetrust dashboards share: annotations, the node variable, the containers table
// and the containers-by-status history, each built with the foundation SDK's typed builders.

import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { GRAFANA, IMAGETRUST } from './datasources';
import {
  ImagetrustQueryBuilder,
  type ImagetrustQueryParams,
  type ImagetrustQueryType,
} from './imagetrust-query';

/** A query of imagetrust's data source, as a panel target (refId A unless told). */
export function imagetrust<Q extends ImagetrustQueryType>(
  queryType: Q,
  params: ImagetrustQueryParams[Q],
  refId = 'A',
): ImagetrustQueryBuilder<Q> {
  return new ImagetrustQueryBuilder(queryType, params).refId(refId).datasource(IMAGETRUST);
}

/**
 * The SDK fills `placement: inControlsMenu` into links and annotations (its only enum value),
 * which moves them from the dashboard's top bar into the controls menu. Ours stay in the bar,
 * as Grafana does when placement is absent.
 */
export function inTopBar<T extends { placement?: unknown }>(
  builder: cog.Builder<T>,
): cog.Builder<Omit<T, 'placement'>> {
  return {
    build: () => {
      const { placement: _placement, ...rest } = builder.build();
      return rest;
    },
  };
}

/** Grafana's built-in "Annotations & Alerts", as every dashboard carries it. */
export function builtInAnnotations(): cog.Builder<dashboard.AnnotationQuery> {
  return inTopBar(
    new dashboard.AnnotationQueryBuilder()
      .builtIn(1)
      .datasource(GRAFANA)
      .enable(true)
      .hide(true)
      .iconColor('rgba(0, 211, 255, 1)')
      .name('Annotations & Alerts')
      .type('dashboard'),
  );
}

/** Trust changes on $node (the data source's `events` query) as annotations. */
export function trustChangeAnnotations(): cog.Builder<dashboard.AnnotationQuery> {
  return inTopBar(
    new dashboard.AnnotationQueryBuilder()
      .name('Trust changes')
      .datasource(IMAGETRUST)
      .enable(true)
      .hide(false)
      .iconColor('orange')
      .target(imagetrust('events', { node: '$node' }, 'Anno')),
  );
}

/** The `node` variable from the data source's `nodes` variable query. */
export function nodeVariable(options: { includeAll: boolean }): dashboard.QueryVariableBuilder {
  const variable = new dashboard.QueryVariableBuilder('node')
    .label('Node')
    .datasource(IMAGETRUST)
    .query('nodes')
    .definition('nodes')
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(false)
    .includeAll(options.includeAll)
    .regex('')
    .hide(dashboard.VariableHide.DontHide)
    .options([]);
  return options.includeAll ? variable.current(allSelected()).allValue('*') : variable;
}

/** The `status` variable from the data source's `statuses` variable query. */
export function statusVariable(): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder('status')
    .label('Status')
    .datasource(IMAGETRUST)
    .query('statuses')
    .definition('statuses')
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(false)
    .includeAll(true)
    .regex('')
    .hide(dashboard.VariableHide.DontHide)
    .current(allSelected())
    .options([])
    .allValue('*');
}

function allSelected(): dashboard.VariableOption {
  return { selected: true, text: 'All', value: '$__all' };
}

/** A link to another imagetrust dashboard, in the top bar. */
export function dashboardLink(title: string, url: string): cog.Builder<dashboard.DashboardLink> {
  return inTopBar(
    new dashboard.DashboardLinkBuilder(title)
      .type(dashboard.DashboardLinkType.Link)
      .url(url)
      .icon('dashboard')
      .targetBlank(false)
      .asDropdown(false)
      .includeVars(false)
      .keepTime(false)
      .tags([]),
  );
}

/** Thresholds: `base` below `from`, `above` from it on (a count of 1 or more is bad). */
export function thresholds(base: string, above: string, from = 1): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
    { color: base, value: null },
    { color: above, value: from },
  ]);
}

/** Every running container judged by the image it runs (the data source's containers frame). */
export function containersTable(options: {
  title: string;
  description: string;
  gridPos: dashboard.GridPos;
  params: ImagetrustQueryParams['containers'];
}): table.PanelBuilder {
  return new table.PanelBuilder()
    .title(options.title)
    .description(options.description)
    .datasource(IMAGETRUST)
    .gridPos(options.gridPos)
    .withTarget(imagetrust('containers', options.params))
    .align(common.FieldTextAlignment.Auto)
    .cellOptions({ type: common.TableCellDisplayMode.Auto })
    .filterable(true)
    .showHeader(true)
    .cellHeight(common.TableCellHeight.Sm)
    .footer(new common.TableFooterOptionsBuilder().show(false).reducer(['count']).countRows(true))
    .sortBy([new common.TableSortByFieldStateBuilder().displayName('Status').desc(false)]);
}

/** Counts of running containers by trust status over time (the data source's history query). */
export function statusHistory(options: {
  title: string;
  description: string;
  gridPos: dashboard.GridPos;
}): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(options.title)
    .description(options.description)
    .datasource(IMAGETRUST)
    .gridPos(options.gridPos)
    .withTarget(imagetrust('history', { node: '$node' }))
    .unit('none')
    .decimals(0)
    .min(0)
    .drawStyle(common.GraphDrawStyle.Line)
    .lineInterpolation(common.LineInterpolation.StepAfter)
    .lineWidth(1)
    .fillOpacity(20)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal).group('A'))
    .axisSoftMin(0)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .calcs([]),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    );
}
