// The CI job a `sign` runs in, as evidence attributes signed into the statement: which system,
// job, run and its URL, and the commit, repository and ref it built. Read from the variables
// GitHub Actions, GitLab CI and Jenkins set; attributes given with --attr win.

export type CiSystem = 'github-actions' | 'gitlab-ci' | 'jenkins';

/** Attribute name → environment variable(s), per system; a value joined from several with '/'. */
function fromGithub(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const run = env.GITHUB_RUN_ID;
  return {
    'ci.job': env.GITHUB_JOB,
    'ci.run': run,
    'ci.attempt': env.GITHUB_RUN_ATTEMPT,
    'ci.workflow': env.GITHUB_WORKFLOW,
    'ci.url':
      run && env.GITHUB_REPOSITORY ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${run}` : undefined,
    'vcs.commit': env.GITHUB_SHA,
    'vcs.repository': env.GITHUB_REPOSITORY,
    'vcs.ref': env.GITHUB_REF,
  };
}

function fromGitlab(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  return {
    'ci.job': env.CI_JOB_ID,
    'ci.run': env.CI_PIPELINE_ID,
    'ci.url': env.CI_JOB_URL ?? env.CI_PIPELINE_URL,
    'ci.pipeline.url': env.CI_PIPELINE_URL,
    'vcs.commit': env.CI_COMMIT_SHA,
    'vcs.repository': env.CI_PROJECT_PATH,
    'vcs.ref': env.CI_COMMIT_REF_NAME,
  };
}

function fromJenkins(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  return {
    'ci.job': env.JOB_NAME,
    'ci.run': env.BUILD_NUMBER,
    'ci.url': env.BUILD_URL,
    'vcs.commit': env.GIT_COMMIT,
    'vcs.repository': env.GIT_URL,
    'vcs.ref': env.GIT_BRANCH,
  };
}

export function ciSystem(env: NodeJS.ProcessEnv): CiSystem | undefined {
  if (env.GITHUB_ACTIONS === 'true') return 'github-actions';
  if (env.GITLAB_CI === 'true') return 'gitlab-ci';
  if (env.JENKINS_URL && env.BUILD_NUMBER) return 'jenkins';
  return undefined;
}

/** The CI context as attributes (empty outside CI); values over 4096 characters are cut. */
export function ciAttributes(env: NodeJS.ProcessEnv): Record<string, string> {
  const system = ciSystem(env);
  if (!system) return {};
  const raw =
    system === 'github-actions'
      ? fromGithub(env)
      : system === 'gitlab-ci'
        ? fromGitlab(env)
        : fromJenkins(env);
  const out: Record<string, string> = { 'ci.system': system };
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && v !== '') out[k] = v.slice(0, 4096);
  return out;
}
