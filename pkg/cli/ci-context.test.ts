import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateAttributes } from '../ledger/statement';
import { ciAttributes } from './ci-context';

describe('CI context as evidence attributes', () => {
  it('reads a GitHub Actions job', () => {
    const attrs = ciAttributes({
      GITHUB_ACTIONS: 'true',
      GITHUB_JOB: 'build',
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_WORKFLOW: 'release',
      GITHUB_REPOSITORY: 'consortium/node',
      GITHUB_SHA: 'a'.repeat(40),
      GITHUB_REF: 'refs/tags/v1.2.3',
    });
    assert.deepEqual(attrs, {
      'ci.system': 'github-actions',
      'ci.job': 'build',
      'ci.run': '4242',
      'ci.attempt': '1',
      'ci.workflow': 'release',
      'ci.url': 'https://github.com/consortium/node/actions/runs/4242',
      'vcs.commit': 'a'.repeat(40),
      'vcs.repository': 'consortium/node',
      'vcs.ref': 'refs/tags/v1.2.3',
    });
    validateAttributes(attrs);
  });

  it('reads a GitLab CI job and a Jenkins build; nothing outside CI', () => {
    const gitlab = ciAttributes({
      GITLAB_CI: 'true',
      CI_JOB_ID: '777',
      CI_PIPELINE_ID: '99',
      CI_JOB_URL: 'https://gitlab.example/g/p/-/jobs/777',
      CI_PIPELINE_URL: 'https://gitlab.example/g/p/-/pipelines/99',
      CI_COMMIT_SHA: 'b'.repeat(40),
      CI_PROJECT_PATH: 'g/p',
      CI_COMMIT_REF_NAME: 'main',
    });
    assert.equal(gitlab['ci.system'], 'gitlab-ci');
    assert.equal(gitlab['ci.job'], '777');
    assert.equal(gitlab['ci.url'], 'https://gitlab.example/g/p/-/jobs/777');
    assert.equal(gitlab['vcs.ref'], 'main');
    const jenkins = ciAttributes({
      JENKINS_URL: 'https://ci/',
      BUILD_NUMBER: '12',
      JOB_NAME: 'node-image',
      GIT_COMMIT: 'c'.repeat(40),
    });
    assert.deepEqual(
      [jenkins['ci.system'], jenkins['ci.job'], jenkins['ci.run'], jenkins['vcs.commit']],
      ['jenkins', 'node-image', '12', 'c'.repeat(40)],
    );
    assert.deepEqual(ciAttributes({ PATH: '/usr/bin' }), {});
  });

  it('cuts values to what a statement may carry', () => {
    const attrs = ciAttributes({ GITLAB_CI: 'true', CI_COMMIT_REF_NAME: `x\n${'y'.repeat(10_000)}` });
    assert.equal(attrs['vcs.ref']?.length, 4096);
    validateAttributes(attrs);
  });
});
