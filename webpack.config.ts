// Extends the scaffolded webpack configuration (.config/, kept as generated): the nested
// data source and panel plugins carry their own logos, which the scaffold's copy step (root
// plugin.json logos only) would leave out of dist/.
import type { Configuration } from 'webpack';
import CopyWebpackPlugin from 'copy-webpack-plugin';
import grafanaConfig, { type Env } from './.config/webpack/webpack.config';

const config = async (env: Env): Promise<Configuration> => {
  const base = await grafanaConfig(env);
  return {
    ...base,
    plugins: [
      ...(base.plugins ?? []),
      new CopyWebpackPlugin({ patterns: [{ from: '*/img/**/*', to: '.', noErrorOnMissing: true }] }),
    ],
  };
};

export default config;
