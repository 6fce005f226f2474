import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { QueryEditor } from './QueryEditor';
import { ConfigEditor } from './ConfigEditor';
import { testIds } from '../../testIds';
import type { DataSource } from '../datasource';

describe('QueryEditor', () => {
  it('edits the node and runs the query on blur', () => {
    const onChange = jest.fn();
    const onRunQuery = jest.fn();
    render(
      <QueryEditor
        query={{ refId: 'A', queryType: 'containers' }}
        onChange={onChange}
        onRunQuery={onRunQuery}
        datasource={{} as DataSource}
      />,
    );
    const node = screen.getByTestId(testIds.queryEditor.node);
    fireEvent.change(node, { target: { value: '$node' } });
    expect(onChange).toHaveBeenCalledWith(
      expect.objectContaining({ node: '$node', queryType: 'containers', version: 2 }),
    );
    fireEvent.blur(node);
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('shows a digest field for ledger statements', () => {
    render(
      <QueryEditor
        query={{ refId: 'A', queryType: 'statements' }}
        onChange={jest.fn()}
        onRunQuery={jest.fn()}
        datasource={{} as DataSource}
      />,
    );
    expect(screen.getByTestId(testIds.queryEditor.digest)).toBeInTheDocument();
    expect(screen.queryByTestId(testIds.queryEditor.node)).not.toBeInTheDocument();
  });

  it('offers the alertable query types: counts with a status filter, node up without', () => {
    const { rerender } = render(
      <QueryEditor
        query={{ refId: 'A', queryType: 'counts' }}
        onChange={jest.fn()}
        onRunQuery={jest.fn()}
        datasource={{} as DataSource}
      />,
    );
    expect(screen.getByTestId(testIds.queryEditor.queryType)).toHaveValue(
      'Container counts per node (alertable)',
    );
    expect(screen.getByTestId(testIds.queryEditor.status)).toBeInTheDocument();
    expect(screen.getByTestId(testIds.queryEditor.node)).toBeInTheDocument();
    rerender(
      <QueryEditor
        query={{ refId: 'A', queryType: 'nodeUp' }}
        onChange={jest.fn()}
        onRunQuery={jest.fn()}
        datasource={{} as DataSource}
      />,
    );
    expect(screen.getByTestId(testIds.queryEditor.queryType)).toHaveValue('Node up (alertable)');
    expect(screen.queryByTestId(testIds.queryEditor.status)).not.toBeInTheDocument();
    expect(screen.getByTestId(testIds.queryEditor.node)).toBeInTheDocument();
  });
});

describe('ConfigEditor', () => {
  it('keeps the token in secureJsonData and the URL in jsonData', () => {
    const onOptionsChange = jest.fn();
    const options = { jsonData: {}, secureJsonFields: {}, secureJsonData: {} } as never;
    render(<ConfigEditor options={options} onOptionsChange={onOptionsChange} />);
    fireEvent.change(screen.getByTestId(testIds.configEditor.url), {
      target: { value: ' http://agent:9581 ' },
    });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ jsonData: { url: 'http://agent:9581' } }),
    );
    fireEvent.change(screen.getByTestId(testIds.configEditor.token), { target: { value: 's3cret' } });
    expect(onOptionsChange).toHaveBeenLastCalledWith(
      expect.objectContaining({ secureJsonData: { token: 's3cret' }, jsonData: {} }),
    );
  });
});
