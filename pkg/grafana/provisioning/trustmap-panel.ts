// The trust-map panel (imagetrust-trustmap-panel, src/panel) through the foundation SDK's
// custom-panel extension: the generic panel builder with the panel's type and typed options.
// Options and their defaults and bounds are those src/panel/module.ts declares.

import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { ImagetrustError } from '../../errors';

export const TRUSTMAP_PANEL_TYPE = 'imagetrust-trustmap-panel';

/** src/panel/TrustMap.tsx TrustMapOptions. */
export interface TrustmapOptions {
  /** One tile per node (coloured by its worst container) or per container. */
  tileBy: 'node' | 'container';
  showCounts: boolean;
  /** Pixels; the panel editor allows 80 to 600. */
  minTileWidth: number;
}

export const MIN_TILE_WIDTH = { min: 80, max: 600 } as const;

export const defaultTrustmapOptions = (): TrustmapOptions => ({
  tileBy: 'node',
  showCounts: true,
  minTileWidth: 180,
});

export class TrustmapPanelBuilder extends dashboard.PanelBuilder {
  private readonly panelOptions: TrustmapOptions = defaultTrustmapOptions();

  constructor() {
    super();
    this.internal.type = TRUSTMAP_PANEL_TYPE;
    this.internal.options = this.panelOptions;
    this.internal.fieldConfig = dashboard.defaultFieldConfigSource();
  }

  tileBy(tileBy: TrustmapOptions['tileBy']): this {
    this.panelOptions.tileBy = tileBy;
    return this;
  }

  showCounts(showCounts: boolean): this {
    this.panelOptions.showCounts = showCounts;
    return this;
  }

  /** Refuses what the panel's editor would not accept, as the SDK's own builders do. */
  minTileWidth(pixels: number): this {
    if (!Number.isInteger(pixels) || pixels < MIN_TILE_WIDTH.min || pixels > MIN_TILE_WIDTH.max) {
      throw new ImagetrustError(
        'CONFIG_INVALID',
        `minTileWidth must be an integer from ${MIN_TILE_WIDTH.min} to ${MIN_TILE_WIDTH.max}, got ${pixels}`,
      );
    }
    this.panelOptions.minTileWidth = pixels;
    return this;
  }
}
