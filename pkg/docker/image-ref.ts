// Image references, parsed once into a value object.
//
// Follows the grammar of distribution/reference (reference.go): [domain/]path[:tag][@digest],
// lower-case path components joined by separators, tags of at most 128 word characters,
// names of at most 255 characters. Written by hand because no maintained npm package
// implements that grammar; everything an attacker can put in a reference is rejected here,
// before it reaches the engine or any output.

import { ImagetrustError } from '../errors';

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const REFERENCE_RE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const IMAGE_ID_RE = /^(?:sha256:)?([0-9a-f]{64})$/;

export const DOCKER_SCHEME = 'docker://';

export interface ImageRef {
  /** What to hand the engine (`parity/parity:ztc`, `sha256:…`). */
  readonly engineRef: string;
  /** The reference with its scheme, as shown and signed (`docker://parity/parity:ztc`). */
  readonly uri: string;
  readonly repository?: string;
  readonly tag?: string;
  readonly digest?: string;
  /** Set when the reference is an image ID rather than a name. */
  readonly imageId?: string;
}

function badRef(input: string, why: string): ImagetrustError {
  const shown = JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input);
  return new ImagetrustError('BAD_IMAGE_REF', `${shown} is not a valid image reference: ${why}`);
}

/** Parses `docker://REF` (or a bare REF when `requireScheme` is false). */
export function parseImageRef(input: string, options: { requireScheme?: boolean } = {}): ImageRef {
  if (typeof input !== 'string') throw badRef(String(input), 'not text');
  let ref = input;
  if (ref.startsWith(DOCKER_SCHEME)) ref = ref.slice(DOCKER_SCHEME.length);
  else if (options.requireScheme ?? true) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) throw badRef(input, 'only docker:// references are supported');
    throw badRef(input, 'expected docker://REF');
  }
  if (ref.length === 0) throw badRef(input, 'empty');
  if (ref.length > 512) throw badRef(input, 'longer than 512 characters');
  const id = IMAGE_ID_RE.exec(ref);
  if (id) {
    const imageId = `sha256:${id[1]}`;
    return { engineRef: imageId, uri: `${DOCKER_SCHEME}${imageId}`, imageId };
  }
  const m = REFERENCE_RE.exec(ref);
  if (!m) {
    if (/[A-Z]/.test(ref.split(/[:@]/)[0]?.split('/').slice(-1)[0] ?? ''))
      throw badRef(input, 'repository names are lower case');
    throw badRef(input, 'unexpected characters');
  }
  const [, repository, tag, digest] = m as unknown as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  if (repository.length > 255) throw badRef(input, 'repository name longer than 255 characters');
  // As docker's ParseNormalizedNamed: the first component is a registry only if it looks like
  // a host (a dot, a port, `localhost` or an IPv6 literal); otherwise it is a lower-case path.
  const first = repository.split('/')[0] as string;
  const isRegistry =
    repository.includes('/') && (/[.:]/.test(first) || first === 'localhost' || first.startsWith('['));
  if (!isRegistry && !new RegExp(`^${PATH_COMPONENT}$`).test(first))
    throw badRef(input, 'repository names are lower case');
  return {
    engineRef: ref,
    uri: `${DOCKER_SCHEME}${ref}`,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}
