import { PanelPlugin } from '@grafana/data';
import { TrustMap, type TrustMapOptions } from './TrustMap';

export const plugin = new PanelPlugin<TrustMapOptions>(TrustMap).setPanelOptions((builder) =>
  builder
    .addRadio({
      path: 'tileBy',
      name: 'One tile per',
      defaultValue: 'node',
      settings: {
        options: [
          { value: 'node', label: 'Node' },
          { value: 'container', label: 'Container' },
        ],
      },
    })
    .addBooleanSwitch({ path: 'showCounts', name: 'Show counts', defaultValue: true })
    .addBooleanSwitch({
      path: 'showToolbar',
      name: 'Search and status filter',
      description: 'A toolbar above the tiles, with the totals of what is shown',
      defaultValue: true,
    })
    .addBooleanSwitch({
      path: 'groupByNode',
      name: 'Group containers by node',
      defaultValue: true,
      showIf: (o) => o.tileBy === 'container',
    })
    .addNumberInput({
      path: 'minTileWidth',
      name: 'Minimum tile width',
      defaultValue: 180,
      settings: { min: 80, max: 600 },
    }),
);
