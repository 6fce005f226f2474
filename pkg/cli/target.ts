// The artifact a command is about: `docker://REF` resolved on the local engine, or a digest
// given with --hash (then REF, if given too, is only the name it is recorded under).

import { ImagetrustError } from '../errors';
import { parseImageRef } from '../docker/image-ref';
import { resolveImage, type ImageInfo } from '../docker/resolve';
import { parseImageDigest, type ImageDigest } from '../ledger/statement';
import type { CliContext } from './context';

export interface Target {
  name: string;
  digest: ImageDigest;
  tag?: string;
  image?: ImageInfo;
}

export async function resolveTarget(
  ctx: CliContext,
  ref: string | undefined,
  hash: string | undefined,
): Promise<Target> {
  if (ref === undefined && hash === undefined)
    throw new ImagetrustError('USAGE', 'give docker://REF or --hash sha256:…');
  const parsed = ref === undefined ? undefined : parseImageRef(ref);
  if (hash !== undefined) {
    const digest = parseImageDigest(hash);
    return { name: parsed?.uri ?? `docker://${digest}`, digest, ...(parsed?.tag ? { tag: parsed.tag } : {}) };
  }
  const image = await resolveImage(ctx.docker(), parsed!);
  return { name: parsed!.uri, digest: image.digest, image, ...(parsed!.tag ? { tag: parsed!.tag } : {}) };
}
