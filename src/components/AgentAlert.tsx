// What a page says when it cannot read the agent: a missing or wrong data source is a settings
// problem with its own message and a link to the app's configuration; anything else is the
// agent's (or its backend's) answer.

import React from 'react';
import { Alert, TextLink } from '@grafana/ui';
import { MissingDataSourceError } from '../api/useAgent';
import { APP_CONFIG_URL } from '../constants';
import { testIds } from '../testIds';

export function AgentAlert({ error }: { error: Error }) {
  if (error instanceof MissingDataSourceError) {
    return (
      <div data-testid={testIds.missingDataSource}>
        <Alert title="The imagetrust data source is missing">
          {error.message} Provision one with uid <code>{error.uid}</code>, or choose another in the{' '}
          <TextLink href={APP_CONFIG_URL}>app&apos;s configuration</TextLink>.
        </Alert>
      </div>
    );
  }
  return <Alert title="Cannot read the imagetrust agent">{error.message}</Alert>;
}
