// The release this code is; the CLI's --version and the agent's imagetrust_build_info report it.
export const VERSION = '0.2.0';
