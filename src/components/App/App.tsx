import React from 'react';
import { Route, Routes } from 'react-router-dom';
import type { AppRootProps } from '@grafana/data';
import { ROUTES } from '../../constants';
import { FleetPage } from '../../pages/Fleet';
import { ImagePage } from '../../pages/Image';
import { NodePage } from '../../pages/Node';

function App(_props: AppRootProps) {
  return (
    <Routes>
      <Route path={`${ROUTES.Node}/:node`} element={<NodePage />} />
      <Route path={`${ROUTES.Image}/:digest`} element={<ImagePage />} />
      <Route path="*" element={<FleetPage />} />
    </Routes>
  );
}

export default App;
