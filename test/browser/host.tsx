// What Grafana provides to a plugin at run time, bundled for the browser test: the shared
// packages the plugin leaves external (answered by name to the AMD loader), and the runtime
// services Grafana installs at boot (backend, template and data source services), backed by
// the test page's own server (test/browser/server.ts, which answers as Grafana does by calling
// the plugin's backend). `window.grafanaBootData` is set by the page before this loads.

import React from 'react';
import * as ReactNamespace from 'react';
import * as ReactDOM from 'react-dom';
import * as ReactDOMClient from 'react-dom/client';
import * as JSXRuntime from 'react/jsx-runtime';
import * as ReactRouter from 'react-router';
import * as ReactRouterDom from 'react-router-dom';
import * as Emotion from '@emotion/css';
import * as EmotionReact from '@emotion/react';
import * as GrafanaData from '@grafana/data';
import * as GrafanaUI from '@grafana/ui';
import * as GrafanaRuntime from '@grafana/runtime';
import * as Rxjs from 'rxjs';
import * as RxjsOperators from 'rxjs/operators';
import { Observable } from 'rxjs';

const { createTheme, ThemeContext, dateTime } = GrafanaData;

interface FetchOptions {
  url: string;
  method?: string;
  params?: Record<string, string | number>;
  data?: unknown;
  headers?: Record<string, string>;
}

/** A BackendSrv whose fetch() goes to the test server, as Grafana's goes to Grafana. */
function backendSrv() {
  const fetchFn = (options: FetchOptions) =>
    new Observable((subscriber) => {
      const query = new URLSearchParams(
        Object.entries(options.params ?? {}).map(([k, v]) => [k, String(v)]),
      ).toString();
      const url = `${options.url}${query ? `?${query}` : ''}`;
      const init: RequestInit = { method: options.method ?? 'GET', headers: { ...options.headers } };
      if (options.data !== undefined) {
        init.body = JSON.stringify(options.data);
        init.headers = { ...options.headers, 'content-type': 'application/json' };
      }
      fetch(url, init)
        .then(async (res) => {
          const text = await res.text();
          let data: unknown = text;
          try {
            data = JSON.parse(text);
          } catch {
            // not JSON
          }
          const response = {
            data,
            status: res.status,
            statusText: res.statusText,
            ok: res.ok,
            headers: res.headers,
            url,
            config: options,
            redirected: false,
            type: 'basic',
          };
          if (!res.ok) {
            subscriber.error(response);
            return;
          }
          subscriber.next(response);
          subscriber.complete();
        })
        .catch((err) => subscriber.error({ status: 0, data: {}, statusText: String(err) }));
    });
  return {
    fetch: fetchFn,
    get: async (url: string, params?: Record<string, string>) =>
      (await fetch(`${url}?${new URLSearchParams(params)}`)).json(),
    request: async (options: FetchOptions) =>
      (await Rxjs.lastValueFrom(fetchFn(options) as Observable<{ data: unknown }>)).data,
  };
}

const instances = new Map<string, unknown>();

export const host = {
  modules: {
    react: ReactNamespace,
    'react-dom': ReactDOM,
    'react-dom/client': ReactDOMClient,
    'react/jsx-runtime': JSXRuntime,
    'react-router': ReactRouter,
    'react-router-dom': ReactRouterDom,
    '@emotion/css': Emotion,
    '@emotion/react': EmotionReact,
    '@grafana/data': GrafanaData,
    '@grafana/ui': GrafanaUI,
    '@grafana/runtime': GrafanaRuntime,
    rxjs: Rxjs,
    'rxjs/operators': RxjsOperators,
  } as Record<string, unknown>,

  boot() {
    GrafanaRuntime.setBackendSrv(backendSrv() as never);
    GrafanaRuntime.setTemplateSrv({
      getVariables: () => [],
      replace: (target?: string) => target ?? '',
      containsTemplate: () => false,
      updateTimeRange: () => undefined,
    } as never);
    GrafanaRuntime.setDataSourceSrv({
      get: async (ref?: string | { uid?: string }) => {
        const uid = typeof ref === 'string' ? ref : (ref?.uid ?? 'imagetrust');
        const ds = instances.get(uid);
        if (!ds) {
          throw new Error(`no data source ${uid}`);
        }
        return ds;
      },
      getList: () => [],
      getInstanceSettings: () => undefined,
      reload: async () => undefined,
      registerRuntimeDataSource: () => undefined,
    } as never);
  },

  registerDataSource(uid: string, ds: unknown) {
    instances.set(uid, ds);
  },

  range(fromMs: number, toMs: number) {
    return {
      from: dateTime(fromMs),
      to: dateTime(toMs),
      raw: { from: dateTime(fromMs), to: dateTime(toMs) },
    };
  },

  /** Renders a component with Grafana's theme, global styles and a router at `path`. */
  render(element: React.ReactElement, options: { mode: 'light' | 'dark'; path?: string; appBase?: string }) {
    const theme = createTheme({ colors: { mode: options.mode } });
    document.body.style.background = theme.colors.background.canvas;
    const container = document.getElementById('root') as HTMLElement;
    const root = ReactDOMClient.createRoot(container);
    const routed = options.appBase ? (
      <ReactRouterDom.Routes>
        <ReactRouterDom.Route path={`${options.appBase}/*`} element={element} />
      </ReactRouterDom.Routes>
    ) : (
      element
    );
    root.render(
      <ThemeContext.Provider value={theme}>
        <GrafanaUI.GlobalStyles />
        <ReactRouterDom.MemoryRouter initialEntries={[options.path ?? '/']}>
          {routed}
        </ReactRouterDom.MemoryRouter>
      </ThemeContext.Provider>,
    );
    return root;
  },

  createElement: React.createElement,
  noop: () => undefined,

  /** PanelProps as Grafana hands them to a panel. */
  panelProps(
    series: unknown[],
    range: unknown,
    options: Record<string, unknown>,
    size: { width: number; height: number },
  ) {
    const noop = () => undefined;
    return {
      id: 1,
      data: { series, state: 'Done', timeRange: range },
      timeRange: range,
      timeZone: 'utc',
      options,
      transparent: false,
      width: size.width,
      height: size.height,
      fieldConfig: { defaults: {}, overrides: [] },
      renderCounter: 0,
      title: 'Trust map',
      eventBus: {
        publish: noop,
        subscribe: () => ({ unsubscribe: noop }),
        getStream: () => ({ subscribe: () => ({ unsubscribe: noop }) }),
      },
      onOptionsChange: noop,
      onFieldConfigChange: noop,
      replaceVariables: (s: string) => s,
      onChangeTimeRange: noop,
    };
  },
};

(window as unknown as { imagetrustHost: typeof host }).imagetrustHost = host;
