// A list that renders only the rows in view (@tanstack/react-virtual): the app's pages and the
// trust-map panel stay responsive with tens of thousands of rows. The scrolled box's height
// follows from the row heights, so the list needs no layout measurement to know what to draw.

import React, { useMemo, useRef } from 'react';
import { css } from '@emotion/css';
import { useVirtualizer, type Virtualizer } from '@tanstack/react-virtual';

export interface VirtualListProps<T> {
  items: readonly T[];
  /** The scrolled box is as tall as its rows, up to this many pixels. */
  maxHeight: number;
  /** A row's height in pixels (rows are not measured). */
  rowHeight: (item: T, index: number) => number;
  rowKey: (item: T, index: number) => string;
  renderRow: (item: T, index: number) => React.ReactNode;
  testId?: string;
  className?: string;
}

/** Reports the given height instead of measuring: the same in a browser and in jsdom. */
function fixedRect(height: number) {
  return (
    instance: Virtualizer<HTMLDivElement, Element>,
    cb: (rect: { width: number; height: number }) => void,
  ) => {
    cb({ width: instance.scrollElement?.clientWidth ?? 0, height });
    return () => undefined;
  };
}

const styles = {
  scroller: css({ overflowY: 'auto', position: 'relative', contain: 'strict' }),
  row: css({ position: 'absolute', top: 0, left: 0, width: '100%' }),
};

export function VirtualList<T>({
  items,
  maxHeight,
  rowHeight,
  rowKey,
  renderRow,
  testId,
  className,
}: VirtualListProps<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const height = useMemo(() => {
    let total = 0;
    for (let i = 0; i < items.length && total < maxHeight; i++) {
      total += rowHeight(items[i] as T, i);
    }
    return Math.min(total, maxHeight);
  }, [items, maxHeight, rowHeight]);
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => rowHeight(items[i] as T, i),
    getItemKey: (i) => rowKey(items[i] as T, i),
    observeElementRect: fixedRect(height),
    initialRect: { width: 0, height },
    overscan: 8,
  });
  return (
    <div
      ref={scroller}
      className={className ? `${styles.scroller} ${className}` : styles.scroller}
      style={{ height }}
      data-testid={testId}
    >
      <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {virtualizer.getVirtualItems().map((v) => (
          <div
            key={v.key}
            className={styles.row}
            style={{ height: v.size, transform: `translateY(${v.start}px)` }}
            data-index={v.index}
          >
            {renderRow(items[v.index] as T, v.index)}
          </div>
        ))}
      </div>
    </div>
  );
}
