// `docker://REF` to the image it names on the local engine: its content digest (the engine's
// image ID) and what the engine reports about it. Which digest the ID is depends on the image
// store (the config digest on the classic store, the manifest digest on containerd's), so both
// the ID and every repo digest are recorded as reported, never assumed.

import { ImagetrustError } from '../errors';
import { isImageDigest, type ImageDigest, type StatementMetadata } from '../ledger/statement';
import type { ImageInspect, ReadOnlyDocker } from './engine';
import type { ImageRef } from './image-ref';

export interface ImageInfo {
  digest: ImageDigest;
  repoTags: string[];
  repoDigests: string[];
  architecture?: string;
  os?: string;
  variant?: string;
  size?: number;
  labels: Record<string, string>;
  /** The engine's inspect answer, trimmed to the fields vcn reported. */
  inspect: Record<string, unknown>;
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];

export function imageInfoFrom(inspect: ImageInspect): ImageInfo {
  const digest = inspect.Id;
  if (!isImageDigest(digest)) {
    throw new ImagetrustError('DOCKER_ERROR', `engine reported an image ID that is not a sha256 digest`);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(inspect.Config?.Labels ?? {})) if (typeof v === 'string') labels[k] = v;
  const info: ImageInfo = {
    digest,
    repoTags: strings(inspect.RepoTags),
    repoDigests: strings(inspect.RepoDigests),
    labels,
    inspect: {
      Id: inspect.Id,
      RepoTags: strings(inspect.RepoTags),
      RepoDigests: strings(inspect.RepoDigests),
      Comment: inspect.Comment ?? '',
      Created: inspect.Created ?? '',
      DockerVersion: inspect.DockerVersion ?? '',
      Author: inspect.Author ?? '',
      Architecture: inspect.Architecture ?? '',
      Os: inspect.Os ?? '',
      Size: inspect.Size ?? 0,
    },
  };
  if (typeof inspect.Architecture === 'string' && inspect.Architecture)
    info.architecture = inspect.Architecture;
  if (typeof inspect.Os === 'string' && inspect.Os) info.os = inspect.Os;
  if (typeof inspect.Variant === 'string' && inspect.Variant) info.variant = inspect.Variant;
  if (typeof inspect.Size === 'number' && Number.isSafeInteger(inspect.Size)) info.size = inspect.Size;
  return info;
}

export async function resolveImage(docker: ReadOnlyDocker, ref: ImageRef): Promise<ImageInfo> {
  return imageInfoFrom(await docker.inspectImage(ref.engineRef));
}

export function statementMetadata(info: ImageInfo): StatementMetadata {
  const platform = [info.os, info.architecture, info.variant].filter(Boolean).join('/');
  return {
    ...(info.architecture ? { architecture: info.architecture } : {}),
    ...(info.os ? { os: info.os } : {}),
    ...(platform ? { platform } : {}),
    ...(info.size !== undefined ? { size: info.size } : {}),
    repoTags: info.repoTags,
    repoDigests: info.repoDigests,
    labels: info.labels,
  };
}
