import React from 'react';
import { Route, Routes } from 'react-router-dom';
import type { AppRootProps } from '@grafana/data';
import { DEFAULT_DATASOURCE_UID, ROUTES, type AppSettings } from '../../constants';
import { DataSourceUidContext } from '../../api/useAgent';
import { FleetPage } from '../../pages/Fleet';
import { ImagePage } from '../../pages/Image';
import { NodePage } from '../../pages/Node';

/** Every page reads the data source the app's settings name (AppConfig saves it). */
function App({ meta }: AppRootProps<AppSettings>) {
  const uid = meta.jsonData?.datasourceUid?.trim() || DEFAULT_DATASOURCE_UID;
  return (
    <DataSourceUidContext.Provider value={uid}>
      <Routes>
        <Route path={`${ROUTES.Node}/:node`} element={<NodePage />} />
        <Route path={`${ROUTES.Image}/:digest`} element={<ImagePage />} />
        <Route path="*" element={<FleetPage />} />
      </Routes>
    </DataSourceUidContext.Provider>
  );
}

export default App;
